"""The forest-fire agent through the real broker, with workers stopped mid-season.

The cffdrs test season (48 noons at 40 N) is played onto ``obs.fire`` in
three pieces; the first worker is stopped (SIGTERM) after 20 days, the
second killed (SIGKILL) after 36, and the third plays the rest. Every noon
the agent applied is read back from the changelog of its station table:
each noon must appear once, and its codes must match the uninterrupted
cffdrs run (fwi_01.csv) within 0.1; the warnings must be those of the
offline reference, each once.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest

from connectors.scenario import load_scenario
from pipeline.app import changelog_topic
from pipeline.demo import run_settings
from pipeline.lag import wait_caught_up
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import collect, read_topic
from pipeline.worker import WorkerProcess, prepare

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIRE = ROOT / "data/samples/fire"
CODES = ("ffmc", "dmc", "dc", "isi", "bui", "fwi")


def season(tmp_path: Path):
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        f"""name = "vw85-guangning"
description = "the cffdrs test season as a Guangning station"
status = "Exercise"
time_shift = "none"
[[feeds]]
kind = "fire_csv"
path = "{FIRE / "station_noon_vw85.csv"}"
[feeds.options]
county = "441223"
utc_offset_h = -6.0
""",
        encoding="utf-8",
    )
    return load_scenario(folder)


def settle(settings: Settings) -> None:
    wait_caught_up(
        settings.bootstrap,
        settings.app_id,
        [settings.topic(t) for t in ("obs.fire", "fire.counties", "warnings")],
        [settings.topic(t) for t in ("warnings", "alerts.cap", "deadletter")],
    )


def test_a_restarted_worker_carries_the_codes_on(kafka_bootstrap, tmp_path):
    scenario = season(tmp_path)
    run_id = f"f{uuid.uuid4().hex[:8]}"
    settings = run_settings(
        Settings(bootstrap=kafka_bootstrap), scenario, run_id, tmp_path
    )
    prepare(settings)
    records = list(scenario.records())
    assert len(records) == 48

    for n, (piece, stop) in enumerate(
        [(records[:20], "term"), (records[20:36], "kill"), (records[36:], "term")]
    ):
        worker = WorkerProcess(settings, tmp_path, name=f"fire{n}")
        worker.start()
        try:
            worker.wait_ready()
            replay(scenario, settings, records=piece, rejections=False, progress=False)
            settle(settings)
        finally:
            worker.kill() if stop == "kill" else worker.stop()

    noons: dict[float, list[dict]] = {}
    for rec in read_topic(kafka_bootstrap, changelog_topic(settings, "fire_stations")):
        state = json.loads(rec.value)
        noons.setdefault(state["noon"], []).append(state["codes"])
    assert len(noons) == 48
    assert all(len({json.dumps(c) for c in seen}) == 1 for seen in noons.values())

    with (FIRE / "fwi_01.csv").open(newline="") as fh:
        cffdrs = [
            {k.lower(): float(v) for k, v in r.items()} for r in csv.DictReader(fh)
        ]
    got = [noons[t][-1] for t in sorted(noons)]
    worst = {
        c: max(abs(g[c] - w[c]) for g, w in zip(got, cffdrs, strict=True))
        for c in CODES
    }
    assert all(dev <= 0.1 for dev in worst.values()), worst

    summary = collect(settings)
    reference = score_scenario(scenario, Settings(archive_dir=""))
    assert sorted(w["event_id"] for w in summary.warnings) == sorted(
        e["event_id"] for e in reference.events
    )
    assert len(summary.warnings) == 21
    assert summary.cap_published == summary.cap_valid == 21
    assert summary.duplicates == 0 and summary.deadletters == []
