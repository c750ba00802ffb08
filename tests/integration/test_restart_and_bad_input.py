"""Workers restarted mid-replay, and bad records mixed into good ones.

Both tests replay the demo scenario through the real broker in pieces and
compare what the run produced with the offline reference
(:func:`pipeline.offline.score_scenario`): the same decisions with the same
identifiers, each exactly once.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from connectors.scenario import load_scenario
from pipeline.demo import DEFAULT_SCENARIO, OUTPUTS, SOURCES, run_settings
from pipeline.lag import wait_caught_up
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import collect
from pipeline.worker import WorkerProcess, prepare
from schemas import registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(DEFAULT_SCENARIO)


@pytest.fixture(scope="module")
def reference(scenario):
    run = score_scenario(scenario, Settings(archive_dir=""))
    return sorted((e["event_id"], e["action"], e["level"]) for e in run.events)


def fresh_settings(bootstrap: str, scenario, home: Path) -> Settings:
    run_id = f"t{uuid.uuid4().hex[:8]}"
    settings = run_settings(Settings(bootstrap=bootstrap), scenario, run_id, home)
    prepare(settings)
    return settings


def settle(settings: Settings, worker: WorkerProcess) -> None:
    wait_caught_up(
        settings.bootstrap,
        settings.app_id,
        [settings.topic(t) for t in SOURCES],
        [settings.topic(t) for t in OUTPUTS],
        on_stall=worker.restart,
    )


def decisions(settings: Settings):
    summary = collect(settings)
    return summary, sorted(
        (w["event_id"], w["action"], w["level"]) for w in summary.warnings
    )


def test_restarted_workers_lose_and_repeat_nothing(
    kafka_bootstrap, scenario, reference, tmp_path
):
    settings = fresh_settings(kafka_bootstrap, scenario, tmp_path)
    records = list(scenario.records())
    # mid-storm (frame 80 of 144: many town warnings in force), then mid-flood
    pieces = [records[:80], records[80:250], records[250:]]
    stops = ["term", "kill", "term"]
    for n, (piece, stop) in enumerate(zip(pieces, stops, strict=True)):
        worker = WorkerProcess(settings, tmp_path, name=f"worker{n}")
        worker.start()
        worker.wait_ready()
        replay(scenario, settings, records=piece, rejections=False, progress=False)
        settle(settings, worker)
        if stop == "kill":
            worker.kill()
        else:
            worker.stop()
        if n == 1:
            assert "recalled" in worker.log(), "the new worker rebuilt its radar window"

    summary, got = decisions(settings)
    assert got == reference
    assert summary.duplicates == 0
    assert summary.cap_published == summary.cap_valid == len(reference)


def bad_records(settings: Settings, good_gauge: dict) -> list[tuple[str, bytes]]:
    """Records that must each end in the dead-letter topic."""
    jump = json.loads(json.dumps(good_gauge))
    t = datetime.fromisoformat(jump["time"]) + timedelta(minutes=5)
    jump["time"] = t.isoformat()
    jump["stage"] = jump["stage"] + 20.0  # 20 m in 5 min
    furlongs = json.loads(json.dumps(good_gauge))
    furlongs["station"]["unit"] = "furlong"
    future = json.loads(json.dumps(good_gauge))
    future["time"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    negative = json.loads(json.dumps(good_gauge))
    negative["stage"] = float("nan")
    return [
        ("obs.gauge", b'{"schema": "gauge_obs/1", "station": '),  # truncated JSON
        ("obs.gauge", json.dumps(jump).encode()),
        ("obs.gauge", json.dumps(furlongs).encode()),
        ("obs.gauge", json.dumps(future).encode()),
        ("obs.gauge", json.dumps(negative, allow_nan=True).encode()),
        ("obs.radar", b"\x89HDF\r\n\x1a\n not a radar frame"),
    ]


def test_bad_records_go_to_dead_letters_and_good_ones_still_warn(
    kafka_bootstrap, scenario, reference, tmp_path
):
    # a copy of the scenario whose radar folder also holds a truncated file
    folder = tmp_path / "scenario"
    shutil.copytree(DEFAULT_SCENARIO, folder)
    manifest = (folder / "manifest.toml").read_text(encoding="utf-8")
    samples = DEFAULT_SCENARIO.parents[1] / "samples"
    radar_dir = tmp_path / "radar"
    shutil.copytree(samples / "radar/bom_prcp-c10_66_20201031", radar_dir)
    real = sorted(radar_dir.glob("*.nc"))[0]
    (radar_dir / "66_20201031_000500.prcp-c10.nc").write_bytes(real.read_bytes()[:900])
    manifest = manifest.replace(
        'path = "radar/bom_prcp-c10_66_20201031"', f'path = "{radar_dir}"'
    ).replace(
        'path = "gauge/miho_3011665_2023-07.csv"',
        f'path = "{samples / "gauge/miho_3011665_2023-07.csv"}"',
    )
    (folder / "manifest.toml").write_text(manifest, encoding="utf-8")
    broken = load_scenario(folder)

    settings = fresh_settings(kafka_bootstrap, broken, tmp_path)
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    worker.wait_ready()
    records = list(broken.records())
    gauge = next(r for r in records[200:] if r.topic == "obs.gauge")
    replay(broken, settings, records=records[:200], progress=False)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for topic, value in bad_records(settings, gauge.value):
        producer.send(settings.topic(topic), key=b"3011665", value=value)
    producer.flush()
    producer.close()
    replay(broken, settings, records=records[200:], rejections=False, progress=False)
    settle(settings, worker)
    worker.stop()

    summary, got = decisions(settings)
    assert got == reference
    letters = summary.deadletters
    by_reason = {d["reason"][:60]: d["reason_class"] for d in letters}
    classes = sorted(d["reason_class"] for d in letters)
    # truncated JSON, NaN stage, HDF5 garbage on the radar topic and the
    # truncated NetCDF file do not parse; furlongs fail the schema; the jump
    # and the future time are refused by the quality checks
    assert classes == sorted(
        ["parse", "parse", "parse", "parse", "schema", "physical", "future"]
    ), by_reason
    for d in letters:
        assert d["reason"] and d["time"] and d["source"]
        assert base64.b64decode(d["original_b64"])
        registry.validate(d, "deadletter/1")
    truncated = next(d for d in letters if d["source"].startswith("replay:"))
    assert "000500" in truncated["reason"]
    assert len(base64.b64decode(truncated["original_b64"])) == 900
