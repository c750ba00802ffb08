"""Verification of a run through the real broker: topics and live gauges.

The Miho Bridge gauge series of the exercise is replayed through a worker;
``ews verify --bootstrap --prefix`` reads the run's topics back and must
find what the offline scorer finds (every crossing warned, an hour or more
ahead), and the worker's own Prometheus gauges must say the same.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
import uuid
from dataclasses import replace

import pytest

from connectors.scenario import load_scenario
from pipeline.cli import main
from pipeline.demo import DEFAULT_SCENARIO, OUTPUTS, SOURCES, run_settings
from pipeline.lag import wait_caught_up
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.verify import verify_topics
from pipeline.worker import WorkerProcess, prepare

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gauge_only(tmp_path):
    """The exercise without its radar feed (the flood part alone)."""
    folder = tmp_path / "gauge-only"
    shutil.copytree(DEFAULT_SCENARIO, folder)
    samples = DEFAULT_SCENARIO.parents[1] / "samples"
    manifest = (folder / "manifest.toml").read_text(encoding="utf-8")
    head, _, rest = manifest.partition("[[feeds]]")
    feeds = ["[[feeds]]" + f for f in rest.split("[[feeds]]") if "obs.gauge" in f]
    text = head + "".join(feeds)
    text = text.replace(
        'path = "gauge/miho_3011665_2023-07.csv"',
        f'path = "{samples / "gauge/miho_3011665_2023-07.csv"}"',
    )
    (folder / "manifest.toml").write_text(text, encoding="utf-8")
    return load_scenario(folder)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def test_a_run_is_verified_from_its_topics_and_live(kafka_bootstrap, tmp_path):
    scenario = gauge_only(tmp_path)
    assert {f.topic for f in scenario.feeds} == {"obs.gauge"}
    run_id = f"v{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = run_settings(
        Settings(bootstrap=kafka_bootstrap), scenario, run_id, tmp_path
    )
    settings = replace(settings, metrics_port=port)
    prepare(settings)
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        worker.wait_ready()
        replay(scenario, settings, progress=False)
        wait_caught_up(
            settings.bootstrap,
            settings.app_id,
            [settings.topic(t) for t in SOURCES],
            [settings.topic(t) for t in OUTPUTS],
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
            live = resp.read().decode()
    finally:
        worker.stop()

    flood = verify_topics(kafka_bootstrap, settings.topic_prefix, "cma-rainstorm")
    figures = flood.summary()["flood"]
    assert figures["crossings"] == 4
    assert figures["issuance_rate"] == 1.0
    assert figures["min_lead_min"] >= 60.0
    assert metric(live, "ews_flood_issuance_ratio") == 1.0

    out = tmp_path / "verify.json"
    code = main(
        [
            "verify",
            "--bootstrap",
            kafka_bootstrap,
            "--prefix",
            settings.topic_prefix,
            "--summary-json",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
        ]
    )
    assert code == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["flood"]["issuance_rate"] == 1.0
    assert written["rainstorm"]["issued"] == 0  # no radar in this run
    assert (tmp_path / "plots" / "stage_3011665.png").stat().st_size > 0
