"""Geological and fire-weather records through the real broker.

The USGS weekly earthquake feed sample (1,513 events) plays onto
``obs.geo`` with one event placed near Duanzhou: every record is consumed,
none is refused, and the towns within 50 km of the placed event, and only
those, are warned. Then bad records of every kind on ``obs.fire`` and
``obs.geo`` go to the dead-letter topic, each with its reason, while good
records around them still warn.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pyproj import Geod

from connectors.scenario import load_scenario
from models.region import default_region
from pipeline.demo import run_settings
from pipeline.lag import end_offsets, group_lag, wait_caught_up
from pipeline.offline import score_scenario
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.summary import collect
from pipeline.worker import WorkerProcess, prepare
from schemas import registry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUAKE = ROOT / "data/samples/geology/usgs_quake"
TOPICS = ("obs.fire", "obs.geo", "fire.counties", "geo.towns", "warnings")
OUTPUTS = ("warnings", "alerts.cap", "deadletter")
NEAR = (112.47, 23.15)  # in Chengdong Subdistrict, Duanzhou


def scenario_at(folder: Path, feeds: str):
    folder.mkdir(exist_ok=True)
    (folder / "manifest.toml").write_text(
        'name = "geo"\ndescription = "geo feeds"\nstatus = "Exercise"\n'
        'time_shift = "none"\n' + feeds,
        encoding="utf-8",
    )
    return load_scenario(folder)


def placed_feed(folder: Path) -> Path:
    """The first event of the week's feed, moved near Duanzhou at M4.6."""
    doc = json.loads((QUAKE / "all_week.geojson").read_text(encoding="utf-8"))
    first = min(doc["features"], key=lambda f: f["properties"]["time"])
    event = json.loads(json.dumps(first))
    event["id"] = "placed-duanzhou"
    event["properties"] |= {"mag": 4.6, "time": first["properties"]["time"] + 3600_000}
    event["geometry"]["coordinates"] = [*NEAR, 10.0]
    path = folder / "placed.geojson"
    meta = dict(doc["metadata"], count=1)
    path.write_text(
        json.dumps(
            {"type": "FeatureCollection", "metadata": meta, "features": [event]}
        ),
        encoding="utf-8",
    )
    return path


def start(settings: Settings, home: Path) -> WorkerProcess:
    prepare(settings)
    worker = WorkerProcess(settings, home)
    worker.start()
    try:
        worker.wait_ready()
    except BaseException:
        worker.stop()
        raise
    return worker


def settle(settings: Settings) -> None:
    wait_caught_up(
        settings.bootstrap,
        settings.app_id,
        [settings.topic(t) for t in TOPICS],
        [settings.topic(t) for t in OUTPUTS],
    )


def fresh(bootstrap: str, scenario, home: Path) -> Settings:
    run_id = f"g{uuid.uuid4().hex[:8]}"
    return run_settings(Settings(bootstrap=bootstrap), scenario, run_id, home)


def test_the_weekly_feed_ingests_and_a_placed_event_raises_its_towns(
    kafka_bootstrap, tmp_path
):
    placed = placed_feed(tmp_path)
    scenario = scenario_at(
        tmp_path / "s",
        f'[[feeds]]\nkind = "usgs_quake"\npath = "{QUAKE / "all_week.geojson"}"\n'
        f'[[feeds]]\nkind = "usgs_quake"\npath = "{placed}"\n',
    )
    settings = fresh(kafka_bootstrap, scenario, tmp_path)
    worker = start(settings, tmp_path)
    try:
        stats = replay(scenario, settings, progress=False)
        settle(settings)
    finally:
        worker.stop()

    geo = settings.topic("obs.geo")
    assert stats.sent["obs.geo"] == 1514 and stats.dead == 0
    assert end_offsets(kafka_bootstrap, [geo])[geo] == 1514
    lags = group_lag(kafka_bootstrap, settings.app_id, [geo])
    assert sum(p.end for p in lags) == 1514 and all(p.lag == 0 for p in lags)

    summary = collect(settings)
    assert summary.deadletters == []
    warned = {w["area_codes"][0] for w in summary.warnings if w["action"] == "issue"}
    geod = Geod(ellps="WGS84")
    for town in default_region().towns:
        point = town.polygon.representative_point()
        km = geod.inv(*NEAR, point.x, point.y)[2] / 1000.0
        if km < 49.7:  # the rule's sphere is within 0.5 % of the ellipsoid
            assert town.code in warned, (town.code, km)
        elif km > 50.3:
            assert town.code not in warned, (town.code, km)
    assert "441202001" in warned and "441224001" not in warned
    assert {w["hazard"] for w in summary.warnings} == {"landslide"}
    reference = score_scenario(scenario, Settings(archive_dir=""))
    assert sorted(w["event_id"] for w in summary.warnings) == sorted(
        e["event_id"] for e in reference.events
    )
    assert summary.cap_published == summary.cap_valid == len(reference.events)


def good_records(tmp_path: Path) -> tuple[dict, dict, dict, dict]:
    """One valid record of each kind, from the scenario feeds."""
    fire = scenario_at(
        tmp_path / "fire",
        f'[[feeds]]\nkind = "fire_csv"\n'
        f'path = "{ROOT / "data/samples/fire/station_noon_vw85.csv"}"\n'
        '[feeds.options]\ncounty = "441223"\nutc_offset_h = -6.0\n',
    )
    rain = scenario_at(
        tmp_path / "rain",
        f'[[feeds]]\nkind = "geo_rain"\n'
        f'path = "{ROOT / "data/samples/geology/usgs_thresh/KPAE_t.txt"}"\n'
        '[feeds.options]\nplace_at = [112.12, 23.88]\narea_codes = ["441224001"]\n',
    )
    slope = ROOT / "data/samples/geology/exercise_slope"
    sensors = scenario_at(
        tmp_path / "slope",
        f'[[feeds]]\nkind = "slope_csv"\npath = "{slope / "readings.csv"}"\n'
        f'[feeds.options]\nsite_file = "{slope / "site.toml"}"\n',
    )
    quake = scenario_at(
        tmp_path / "quake",
        f'[[feeds]]\nkind = "usgs_quake"\n'
        f'path = "{QUAKE / "significant_month.geojson"}"\n',
    )
    first = [next(iter(s.records())).value for s in (fire, rain, sensors, quake)]
    return first[0], first[1], first[2], first[3]


def bad_records(tmp_path: Path) -> list[tuple[str, bytes, str, str]]:
    """(topic, bytes, reason_class, words of the reason) for each bad record."""
    fire, rain, sensor, quake = good_records(tmp_path)
    now = datetime.now(UTC)
    assert sensor["sensor"]["kind"] == "crack_width"  # HC01-CR1 reads first
    kpa_rule = {"level": {"warning_kpa": 9.0}}  # a crack is measured in mm
    cases = [
        ("obs.fire", b'{"schema": "fire_obs/1", "station": ', "parse", "not JSON"),
        ("obs.fire", dict(fire, rh_pct=150.0), "schema", "rh_pct"),
        ("obs.fire", dict(fire, temp_f=62.6), "schema", "'temp_f' was unexpected"),
        (
            "obs.fire",
            dict(fire, station=dict(fire["station"], county="440100")),
            "unknown",
            "county '440100'",
        ),
        ("obs.fire", dict(fire, rain_24h_mm=5000.0), "physical", "can fall"),
        (
            "obs.fire",
            dict(fire, time=(now + timedelta(days=2)).isoformat()),
            "future",
            "ahead of the clock",
        ),
        ("obs.geo", dict(rain, rain_in=0.31), "schema", "'rain_in' was unexpected"),
        ("obs.geo", dict(rain, rain_mm=600.0), "physical", "can fall"),
        (
            "obs.geo",
            dict(rain, gauge=dict(rain["gauge"], area_codes=["999999999"])),
            "unknown",
            "999999999",
        ),
        (
            "obs.geo",
            dict(sensor, sensor=dict(sensor["sensor"], rule=kpa_rule)),
            "unit",
            "warning_kpa",
        ),
        (
            "obs.geo",
            dict(sensor, pore_pressure_kpa=3.0),
            "schema",
            "crack_width_mm only",
        ),
        ("obs.geo", dict(quake, magnitude=12.5), "schema", "magnitude"),
        ("obs.geo", dict(quake, schema="gauge_obs/1"), "schema", "expected one of"),
        (
            "obs.geo",
            json.dumps(dict(quake, depth_km=float("nan"))).encode(),
            "parse",
            "NaN",
        ),
    ]
    return [
        (topic, value if isinstance(value, bytes) else json.dumps(value).encode(), c, w)
        for topic, value, c, w in cases
    ]


def test_bad_records_of_every_kind_go_to_dead_letters_with_reasons(
    kafka_bootstrap, tmp_path
):
    scenario = scenario_at(
        tmp_path / "s",
        f'[[feeds]]\nkind = "fire_csv"\n'
        f'path = "{ROOT / "data/samples/fire/station_noon_vw85.csv"}"\n'
        '[feeds.options]\ncounty = "441223"\nutc_offset_h = -6.0\n',
    )
    settings = fresh(kafka_bootstrap, scenario, tmp_path)
    records = list(scenario.records())
    cases = bad_records(tmp_path)
    worker = start(settings, tmp_path)
    try:
        replay(scenario, settings, records=records[:10], progress=False)
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        for topic, value, _, _ in cases:
            producer.send(settings.topic(topic), key=b"bad", value=value)
        producer.flush()
        producer.close()
        replay(
            scenario, settings, records=records[10:], rejections=False, progress=False
        )
        settle(settings)
    finally:
        worker.stop()

    summary = collect(settings)
    letters = summary.deadletters
    assert len(letters) == len(cases)
    by_original = {base64.b64decode(d["original_b64"]): d for d in letters}
    for topic, value, reason_class, words in cases:
        letter = by_original[value]
        registry.validate(letter, "deadletter/1")
        assert letter["source"] == f"{topic} agent"
        assert letter["topic"] == settings.topic(topic)
        assert letter["reason_class"] == reason_class, letter["reason"]
        assert words in letter["reason"], letter["reason"]
    # the good season around them still warned, as the reference does
    reference = score_scenario(scenario, Settings(archive_dir=""))
    assert sorted(w["event_id"] for w in summary.warnings) == sorted(
        e["event_id"] for e in reference.events
    )
    assert len(reference.events) == 21
