"""The geological-hazard agent's scoring: rain, slope sensors, earthquakes.

Records come from scenario feeds of the real USGS data (THRESH Mukilteo
rain, the weekly earthquake feed) and go through the GeoScorer the faust
agent uses. Expected values are worked out here from the published rules
and the raw files, not from the scorer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyproj import Geod

from connectors.cap_reader import read_alert
from connectors.scenario import load_scenario
from connectors.usgs_rain import read_landslide_dates
from models.region import default_region
from pipeline.agents.cap import CapPublisher
from pipeline.hazards.geo import decode_geo, geo_scorer
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import (
    ConfigError,
    ParseError,
    PhysicalError,
    SchemaError,
    UnitError,
    UnknownReferenceError,
)

ROOT = Path(__file__).resolve().parents[2]
GEOLOGY = ROOT / "data/samples/geology"
THRESH = GEOLOGY / "usgs_thresh"
PST = timezone(timedelta(hours=-8))
HUAICHENG = "441224001"
REGION = default_region()
# Landslide dates of the Mukilteo list that the Seattle rule flags at KPAE
# (data/samples/geology/SOURCES.md).
DOCUMENTED = {
    date(2011, 3, 14),
    date(2011, 3, 15),
    date(2011, 3, 18),
    date(2011, 11, 23),
}


def feed(tmp_path: Path, body: str) -> list[dict]:
    """The records of a one-feed scenario, each valid against its schema."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "manifest.toml").write_text(
        f"""name = "geo"
description = "geological feeds"
status = "Test"
time_shift = "none"
[[feeds]]
{body}
""",
        encoding="utf-8",
    )
    records = [r.value for r in load_scenario(tmp_path).records()]
    for msg in records:
        registry.validate(msg)
    return records


def kpae(tmp_path: Path, extra: str = "") -> list[dict]:
    return feed(
        tmp_path,
        f"""kind = "geo_rain"
path = "{THRESH / "KPAE_t.txt"}"
{extra}
[feeds.options]
gauge = "KPAE"
place_at = [112.12, 23.88]
area_codes = ["{HUAICHENG}"]
""",
    )


def quakes(tmp_path: Path, name: str) -> list[dict]:
    return feed(
        tmp_path, f'kind = "usgs_quake"\npath = "{GEOLOGY / "usgs_quake" / name}"'
    )


def published_rule_flags(landslides: list[date]) -> dict[date, bool]:
    """The Seattle rule from the raw file, in whole hundredths of an inch:
    flagged when at some hour of the date P3 > 0 and P3 >= 3.5 - 0.67 P15."""
    raw = {}
    for line in (THRESH / "KPAE_t.txt").read_text().splitlines():
        stamp = datetime(
            int(line[2:6]), int(line[6:8]), int(line[8:10]), int(line[10:12])
        )
        raw[stamp] = int(line[12:15])
    hour = timedelta(hours=1)
    flags = {}
    for day in landslides:
        flags[day] = False
        for h in range(24):
            now = datetime(day.year, day.month, day.day, h)
            p3 = sum(raw.get(now - k * hour, 0) for k in range(72))
            p15 = sum(raw.get(now - (72 + k) * hour, 0) for k in range(360))
            if p3 > 0 and 100 * p3 >= 35000 - 67 * p15:
                flags[day] = True
    return flags


def test_mukilteo_dates_through_the_geo_scoring_path(tmp_path):
    records = kpae(tmp_path)
    assert len(records) == 12521
    scorer = geo_scorer(REGION, "Test")
    sites: dict = {}
    towns: dict = {}
    reached_on = set()
    for msg in records:
        scorer.score(msg, sites, towns)
        evidence = towns[HUAICHENG]["rain"]["KPAE"]
        if evidence["cumulative_reached"]:
            # the record's time ends the hour; the rule stamps the hour's start
            start = datetime.fromisoformat(msg["time"]) - timedelta(hours=1)
            reached_on.add(start.astimezone(PST).date())

    landslides = read_landslide_dates(THRESH / "dates2011Muk.txt")
    expected = published_rule_flags(landslides)
    assert {d: d in reached_on for d in landslides} == expected
    assert {d for d, flagged in expected.items() if flagged} == DOCUMENTED


def test_rain_is_carried_in_mm_from_hundredths_of_an_inch(tmp_path):
    records = kpae(tmp_path)
    lines = (THRESH / "KPAE_t.txt").read_text().splitlines()
    wettest = max(lines, key=lambda line: int(line[12:15]))  # 31 hundredths
    start = datetime(
        int(wettest[2:6]),
        int(wettest[6:8]),
        int(wettest[8:10]),
        int(wettest[10:12]),
        tzinfo=PST,
    )
    stamp = start + timedelta(hours=1)  # geo_rain/1 stamps the end of the hour
    msg = next(m for m in records if datetime.fromisoformat(m["time"]) == stamp)
    assert msg["rain_mm"] == pytest.approx(31 * 0.254) and msg["step_s"] == 3600
    inches = {k: v for k, v in msg.items() if k != "rain_mm"} | {"rain_in": 0.31}
    with pytest.raises(SchemaError, match="'rain_in' was unexpected"):
        registry.validate(inches, "geo_rain/1")


def test_a_restart_from_the_json_tables_makes_the_same_decisions(tmp_path):
    records = kpae(
        tmp_path,
        'start = "2011-02-15T00:00:00-08:00"\nend = "2011-03-31T23:00:00-08:00"',
    )
    whole: list = []
    scorer = geo_scorer(REGION, "Test")
    sites: dict = {}
    towns: dict = {}
    for msg in records:
        whole += scorer.score(msg, sites, towns)
    pieces: list = []
    sites, towns = {}, {}
    for n, msg in enumerate(records):
        if n == 600:  # mid-storm, 12 March
            sites, towns = json.loads(json.dumps([sites, towns]))
            scorer = geo_scorer(REGION, "Test")
        pieces += scorer.score(msg, sites, towns)
    assert pieces == whole
    assert {e["level"] for e in whole} >= {"blue", "yellow", "orange"}
    assert all(scorer.score(m, sites, towns) == [] for m in records[-50:])


def test_the_weekly_feed_ingests_completely_and_raises_nothing(tmp_path):
    records = quakes(tmp_path, "all_week.geojson")
    raw = json.loads(
        (GEOLOGY / "usgs_quake/all_week.geojson").read_text(encoding="utf-8")
    )
    assert len(records) == raw["metadata"]["count"] == 1513
    assert {m["event_id"] for m in records} == {f["id"] for f in raw["features"]}
    scorer = geo_scorer(REGION, "Test")
    towns: dict = {}
    assert [e for m in records for e in scorer.score(m, {}, towns)] == []
    assert towns == {}


def placed(msg: dict, lon: float, lat: float, when: datetime, **changes) -> dict:
    return dict(msg, lon=lon, lat=lat, time=when.isoformat(), **changes)


def test_an_event_near_a_town_raises_the_towns_in_reach_only(tmp_path):
    real = quakes(tmp_path, "significant_month.geojson")[0]
    lon, lat = 112.47, 23.15  # in Chengdong, Duanzhou
    when = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    scorer = geo_scorer(REGION, "Test")
    towns: dict = {}
    events = scorer.score(
        placed(real, lon, lat, when, event_id="near", magnitude=4.6), {}, towns
    )
    geod = Geod(ellps="WGS84")
    reach = set()
    for town in REGION.towns:
        point = town.polygon.representative_point()
        metres = geod.inv(lon, lat, point.x, point.y)[2]
        if metres / 1000.0 <= 50.0 * 0.995:  # the rule's sphere is within 0.5 %
            reach.add(town.code)
        elif metres / 1000.0 > 50.0 * 1.005:
            assert town.code not in towns or not towns[town.code].get("quakes")
    raised = {e["area"]["codes"][0] for e in events}
    assert reach <= raised and "441202001" in raised
    assert {(e["action"], e["level"]) for e in events} == {("issue", "blue")}
    assert HUAICHENG not in raised  # about 90 km away
    # the real M5.9 of Gansu, 1,500 km away, and a weak event on the spot: none
    assert scorer.score(real, {}, {}) == []
    weak = placed(real, lon, lat, when, event_id="weak", magnitude=3.9)
    assert scorer.score(weak, {}, {}) == []


def test_the_raise_is_extended_and_lifted_as_the_feed_goes_on(tmp_path):
    """Valid 24 h, extended 3 h before it runs out, raised for 72 h, held 6 h
    (data/rules/geo_risk.toml): far events every hour serve as the clock."""
    real = quakes(tmp_path, "significant_month.geojson")[0]
    t0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    scorer = geo_scorer(REGION, "Test")
    towns: dict = {}
    got = []
    near = placed(real, 112.47, 23.15, t0, event_id="near", magnitude=4.6)
    for h in range(0, 80):
        msg = (
            near
            if h == 0
            else placed(real, 100.0, 30.0, t0 + timedelta(hours=h), event_id=f"far{h}")
        )
        for ev in scorer.score(msg, {}, towns):
            if ev["area"]["codes"] == ["441202001"]:
                got.append((h, ev["action"], ev["level"]))
    assert got == [
        (0, "issue", "blue"),
        (21, "extend", "blue"),
        (42, "extend", "blue"),
        (63, "extend", "blue"),
        (72, "cancel", None),
    ]
    assert all(not t.get("quakes") for t in towns.values())


def slope_record(reading: float, when: datetime, **sensor) -> dict:
    rule = {
        "level": {"attention_mm": 10.0, "warning_mm": 20.0, "alarm_mm": 40.0},
        "rate": {
            "attention_mm_per_day": 2.0,
            "warning_mm_per_day": 5.0,
            "alarm_mm_per_day": 10.0,
        },
        "rate_window_h": 6,
        "min_readings": 4,
        "confirm_readings": 2,
    }
    msg = {
        "schema": "slope_sensor/1",
        "source": "test",
        "site": {"id": "S1", "lon": 112.12, "lat": 23.88, "area_codes": [HUAICHENG]},
        "sensor": {
            "id": "CR1",
            "kind": "crack_width",
            "lon": 112.12,
            "lat": 23.88,
            "rule": rule,
        }
        | sensor,
        "time": when.isoformat(),
        "crack_width_mm": reading,
    }
    registry.validate(msg, "slope_sensor/1")
    return msg


def test_a_crack_opening_at_alarm_rate_is_red_whatever_the_rain():
    """1 mm/h is 24 mm/day, past the alarm rate of 10 mm/day: red (the table
    gives red for a sensor in alarm at any rain band). The rate needs 4
    readings spanning 3 h of the 6-h window: the 4th hourly reading."""
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    scorer = geo_scorer(REGION, "Test")
    sites: dict = {}
    towns: dict = {}
    got = []
    for h in range(6):
        for ev in scorer.score(
            slope_record(5.0 + h, t0 + timedelta(hours=h)), sites, towns
        ):
            got.append((h, ev["action"], ev["level"], ev["trigger"]["sensor_by"]))
    assert got == [(3, "issue", "red", "rate")]
    assert towns[HUAICHENG]["sensors"]["CR1"]["rate_per_h"] == pytest.approx(1.0)


def test_landslide_warnings_become_valid_cap_geo_alerts():
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    scorer = geo_scorer(REGION, "Exercise")
    sites: dict = {}
    towns: dict = {}
    events = []
    for h in range(6):
        events += scorer.score(
            slope_record(5.0 + h, t0 + timedelta(hours=h)), sites, towns
        )
    cap = CapPublisher(REGION, Settings(archive_dir=""))
    _, env = cap.publish(events[0], None)
    registry.validate(env, "cap_alert/1")
    alert = read_alert(env["xml"].encode("utf-8"))
    assert {info.categories for info in alert.infos} == {("Geo",)}
    assert alert.infos[1].event == "Geological Hazard Red Warning"


def test_bad_records_are_refused_with_reasons(tmp_path):
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    scorer = geo_scorer(REGION, "Test")
    good = slope_record(5.0, t0)
    with pytest.raises(SchemaError, match="crack_width_mm only"):
        scorer.score(dict(good, pore_pressure_kpa=3.0), {}, {})
    kpa_rule = dict(good["sensor"], rule={"level": {"attention_kpa": 10.0}})
    with pytest.raises(UnitError, match="attention_kpa"):
        scorer.score(dict(good, sensor=kpa_rule), {}, {})
    elsewhere = dict(good, site=dict(good["site"], area_codes=["999999999"]))
    with pytest.raises(UnknownReferenceError, match="999999999"):
        scorer.score(elsewhere, {}, {})
    with pytest.raises(SchemaError, match="water_content_pct"):
        registry.validate(dict(good, sensor=dict(good["sensor"], kind="water_content")))

    rain = kpae(tmp_path)[:2]
    with pytest.raises(PhysicalError, match="can fall"):
        scorer.score(dict(rain[0], rain_mm=600.0), {}, {})
    sites: dict = {}
    scorer.score(rain[0], sites, {})
    half = datetime.fromisoformat(rain[1]["time"]) + timedelta(minutes=30)
    with pytest.raises(PhysicalError, match="whole hours"):
        scorer.score(dict(rain[1], time=half.isoformat()), sites, {})

    with pytest.raises(SchemaError, match="expected one of"):
        decode_geo(json.dumps(dict(good, schema="gauge_obs/1")).encode())
    with pytest.raises(SchemaError, match="magnitude"):
        quake = quakes(tmp_path, "significant_month.geojson")[0]
        decode_geo(json.dumps(dict(quake, magnitude=12.5)).encode())
    with pytest.raises(ParseError, match="not UTF-8 JSON"):
        decode_geo(b'{"schema": "geo_rain/1", "gauge": ')
    assert decode_geo(json.dumps(good).encode()) == good


def test_feed_options_and_units_are_checked_at_the_edge(tmp_path):
    with pytest.raises(ConfigError, match=r"options\.place_at"):
        feed(
            tmp_path / "a",
            f'kind = "geo_rain"\npath = "{THRESH / "KPAE_t.txt"}"\n'
            '[feeds.options]\narea_codes = ["441224001"]\n',
        )
    with pytest.raises(ConfigError, match="unknown keys"):
        feed(
            tmp_path / "b",
            f'kind = "usgs_quake"\npath = "{THRESH / "KPAE_t.txt"}"\n'
            '[feeds.options]\nunits = "in"\n',
        )

    slope = GEOLOGY / "exercise_slope"
    readings = tmp_path / "readings.csv"
    readings.write_text(
        "time,sensor,value,unit\n"
        "2011-03-01T00:00:00-08:00,HC01-CR1,4.0,mm\n"
        "2011-03-01T02:00:00-08:00,HC01-CR1,0.16,in\n"  # a crack in inches
        "2011-03-01T02:00:00-08:00,HC01-PZ1,0.7,psi\n"  # a pore pressure in psi
        "2011-03-01T02:00:00-08:00,HC01-XX9,1.0,mm\n",  # not in the site file
        encoding="utf-8",
    )
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "s"\ndescription = "s"\nstatus = "Test"\ntime_shift = "none"\n'
        f'[[feeds]]\nname = "slope"\nkind = "slope_csv"\npath = "{readings}"\n'
        f'[feeds.options]\nsite_file = "{slope / "site.toml"}"\n',
        encoding="utf-8",
    )
    scenario = load_scenario(folder)
    records = [r.value for r in scenario.records()]
    assert [m["crack_width_mm"] for m in records] == [4.0]
    refused = scenario.rejected["slope"]
    assert [r.reason_class for r in refused] == ["unit", "unit", "unknown"]
    assert (
        "expected 'mm'" in refused[0].reason and "expected 'kPa'" in refused[1].reason
    )


def test_a_feed_time_shift_moves_the_feed_after_its_clip(tmp_path):
    """start/end clip in recorded time; the feed's own shift then moves it."""
    records = kpae(
        tmp_path,
        'start = "2011-03-14T00:00:00-08:00"\nend = "2011-03-14T02:00:00-08:00"\n'
        'time_shift = "P5114D"',
    )
    # the clip applies to the record times (each the end of its hour), in
    # 2011; 5114 days later is the same date in 2025
    assert [m["time"] for m in records] == [
        "2025-03-14T00:00:00-08:00",
        "2025-03-14T01:00:00-08:00",
        "2025-03-14T02:00:00-08:00",
    ]
