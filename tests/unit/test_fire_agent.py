"""The forest-fire agent's scoring: FWI per station, warnings per county.

The weather is the cffdrs test series (data/samples/fire/station_noon_vw85.csv,
48 days at 40 N), played as a scenario feed and scored by the same
FireScorer the faust agent uses; every expected code is read from the
official cffdrs fixtures fwi_01 ... fwi_11 (data/samples/fire/SOURCES.md).
fwi_05 and fwi_06 start from codes no station starts a season with (all
zero; 200, 1000, 10000) and stay with the model's own tests.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.cap_reader import read_alert
from connectors.scenario import load_scenario
from models import fwi
from models.region import default_region
from pipeline.agents.cap import CapPublisher
from pipeline.hazards.fire import fire_scorer
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import PhysicalError, SchemaError, UnknownReferenceError

ROOT = Path(__file__).resolve().parents[2]
FIRE = ROOT / "data/samples/fire"
CODES = ("ffmc", "dmc", "dc", "isi", "bui", "fwi")
TOL = 0.1  # the brief of the FWI agent: every code within 0.1 of cffdrs
COUNTY = "441223"  # Guangning
REGION = default_region()


def scenario_records(tmp_path: Path, options: str = "") -> list[dict]:
    """The VW85 series as fire_obs/1 records of a scenario feed."""
    (tmp_path / "manifest.toml").write_text(
        f"""name = "vw85"
description = "cffdrs test weather"
status = "Test"
time_shift = "none"
[[feeds]]
kind = "fire_csv"
path = "{FIRE / "station_noon_vw85.csv"}"
[feeds.options]
county = "{COUNTY}"
utc_offset_h = -6.0
{options}
""",
        encoding="utf-8",
    )
    records = [r.value for r in load_scenario(tmp_path).records()]
    for msg in records:
        registry.validate(msg, "fire_obs/1")
    return records


def expected(name: str) -> list[dict[str, float]]:
    with (FIRE / name).open(newline="") as fh:
        return [{k.lower(): float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def run(scorer, records, stations=None, counties=None):
    """Score records; return the codes after each and the events."""
    stations = {} if stations is None else stations
    counties = {} if counties is None else counties
    codes, events = [], []
    for msg in records:
        events += scorer.score(msg, stations, counties)
        codes.append(dict(stations[msg["station"]["id"]]["codes"]))
    return codes, events


def worst(got, want) -> dict[str, float]:
    assert len(got) == len(want)
    return {
        c: max(abs(g[c] - w[c]) for g, w in zip(got, want, strict=True)) for c in CODES
    }


@pytest.mark.parametrize(
    "fixture", ["fwi_01.csv", "fwi_02.csv", "fwi_04.csv", "fwi_08.csv"]
)
def test_the_cffdrs_season_through_the_agent_path(tmp_path, fixture):
    codes, _ = run(fire_scorer(REGION, "Test"), scenario_records(tmp_path))
    assert all(dev <= TOL for dev in worst(codes, expected(fixture)).values())


def test_fwi_03_holds_the_same_codes_without_the_weather_columns(tmp_path):
    codes, _ = run(fire_scorer(REGION, "Test"), scenario_records(tmp_path))
    assert all(dev <= TOL for dev in worst(codes, expected("fwi_03.csv")).values())


def test_fwi_07_with_the_canadian_day_lengths(tmp_path):
    scorer = fire_scorer(REGION, "Test")
    scorer.lat_adjust = False
    codes, _ = run(scorer, scenario_records(tmp_path))
    assert all(dev <= TOL for dev in worst(codes, expected("fwi_07.csv")).values())


@pytest.mark.parametrize(
    ("fixture", "days"), [("fwi_09.csv", slice(6, 7)), ("fwi_10.csv", slice(7, 13))]
)
def test_a_station_that_starts_later_starts_its_season(tmp_path, fixture, days):
    codes, _ = run(fire_scorer(REGION, "Test"), scenario_records(tmp_path)[days])
    assert all(dev <= TOL for dev in worst(codes, expected(fixture)).values())


def test_fwi_11_every_day_a_new_station(tmp_path):
    records = scenario_records(tmp_path)
    for n, msg in enumerate(records):
        msg["station"] = dict(msg["station"], id=f"S{n:02d}")
    codes, _ = run(fire_scorer(REGION, "Test"), records)
    assert all(dev <= TOL for dev in worst(codes, expected("fwi_11.csv")).values())


def test_the_season_as_county_warnings_of_guangning(tmp_path):
    """The decisions test_fire_danger derives by hand, now for a real county."""
    _, events = run(fire_scorer(REGION, "Test"), scenario_records(tmp_path))
    got = [
        (datetime.fromisoformat(e["observed_at"]).strftime("%m-%d"), e["action"])
        for e in events
    ]
    assert got[:3] == [("04-17", "issue"), ("04-18", "extend"), ("04-19", "cancel")]
    assert [e["level"] for e in events if e["action"] != "cancel"].count("red") == 1
    assert len(events) == 21
    guangning = next(c for c in REGION.counties if c.code == COUNTY)
    for ev in events:
        registry.validate(ev, "warning_event/1")
        assert ev["hazard"] == "forest_fire"
        assert ev["area"]["codes"] == list(guangning.town_codes)
        assert ev["warning_id"].startswith(f"forest_fire:{COUNTY}:")
    red = next(e for e in events if e["level"] == "red")
    assert red["trigger"]["fwi"] == pytest.approx(52.31, abs=TOL)
    assert red["trigger"]["danger_class"] == 5


def test_warnings_become_valid_cap_fire_alerts(tmp_path):
    _, events = run(fire_scorer(REGION, "Exercise"), scenario_records(tmp_path))
    cap = CapPublisher(REGION, Settings(archive_dir=""))
    history: dict = {}
    types = []
    for ev in events[:3]:
        history[ev["warning_id"]], env = cap.publish(ev, history.get(ev["warning_id"]))
        registry.validate(env, "cap_alert/1")
        alert = read_alert(env["xml"].encode("utf-8"))
        assert {info.categories for info in alert.infos} == {("Fire",)}
        assert alert.status == "Exercise"
        types.append(env["msgType"])
    assert types == ["Alert", "Update", "Cancel"]
    assert len(env["references"]) == 2


def test_a_restart_from_the_json_tables_continues_the_codes(tmp_path):
    """Tables written to JSON and read back (a changelog recovery) mid-season."""
    records = scenario_records(tmp_path)
    stations: dict = {}
    counties: dict = {}
    first, events_a = run(fire_scorer(REGION, "Test"), records[:20], stations, counties)
    stations, counties = json.loads(json.dumps([stations, counties]))
    second, events_b = run(
        fire_scorer(REGION, "Test"), records[20:], stations, counties
    )
    whole, events = run(fire_scorer(REGION, "Test"), records)
    assert worst(first + second, whole) == dict.fromkeys(CODES, 0.0)
    assert events_a + events_b == events


def test_a_re_read_day_advances_nothing(tmp_path):
    records = scenario_records(tmp_path)
    stations: dict = {}
    counties: dict = {}
    scorer = fire_scorer(REGION, "Test")
    run(scorer, records[:5], stations, counties)
    before = json.dumps([stations, counties], sort_keys=True)
    assert scorer.score(records[4], stations, counties) == []
    assert scorer.score(records[2], stations, counties) == []
    assert json.dumps([stations, counties], sort_keys=True) == before


def test_hourly_records_give_the_daily_codes(tmp_path):
    """24 hourly records a day, the day's rain in its 08:00 hour, noon at 12:00.

    (All of it in one hour: spread over 24 the sum could round to just above
    2.8 mm, the DC's rain threshold, where the daily record holds 2.8.)
    """
    daily = scenario_records(tmp_path)
    hourly = []
    for msg in daily:
        noon = datetime.fromisoformat(msg["time"])
        for k in range(23, -1, -1):
            rec = {key: msg[key] for key in ("schema", "source", "station")}
            rec |= {key: msg[key] for key in ("temp_c", "rh_pct", "wind_kmh")}
            rec |= {
                "period": "hourly",
                "time": (noon - timedelta(hours=k)).isoformat(),
                "rain_1h_mm": msg["rain_24h_mm"] if k == 4 else 0.0,
            }
            registry.validate(rec, "fire_obs/1")
            hourly.append(rec)
    scorer = fire_scorer(REGION, "Test")
    stations: dict = {}
    counties: dict = {}
    noons = []
    for rec in hourly:
        scorer.score(rec, stations, counties)
        if rec["time"].endswith("T12:00:00-06:00"):
            noons.append(dict(stations[rec["station"]["id"]]["codes"]))
    want, _ = run(fire_scorer(REGION, "Test"), daily)
    assert max(worst(noons, want).values()) < 1e-9


def test_a_new_season_starts_from_the_overwintered_dc(tmp_path):
    """cffdrs wDC_1: fall DC 300, 110 mm of winter, a = b = 0.75 -> 109.4657."""
    msg = scenario_records(tmp_path)[0]
    last = datetime.fromisoformat(msg["time"]) - timedelta(days=150)
    stations = {
        "VW85": {"ffmc": 80.0, "dmc": 40.0, "dc": 300.0, "noon": last.timestamp()}
    }
    spring = dict(msg, season_start=True, winter_precip_mm=110.0)
    spring |= {"temp_c": 10.0, "rh_pct": 50.0, "rain_24h_mm": 0.0}
    fire_scorer(REGION, "Test").score(spring, stations, {})
    # by hand: DC = 109.4657 + 0.5 (0.36 (10 + 2.8) + 0.9) in April at 40 N
    assert stations["VW85"]["dc"] == pytest.approx(109.465692 + 0.5 * 5.508, abs=1e-4)
    # and without the winter's rain it starts at 15 (Van Wagner 1987)
    del spring["winter_precip_mm"]
    stations["VW85"]["noon"] = last.timestamp()
    fire_scorer(REGION, "Test").score(spring, stations, {})
    assert stations["VW85"]["dc"] == pytest.approx(15.0 + 0.5 * 5.508, abs=1e-9)


def test_a_long_gap_starts_a_season_a_short_one_carries_over(tmp_path):
    records = scenario_records(tmp_path)
    scorer = fire_scorer(REGION, "Test")
    stations: dict = {}
    run(scorer, records[:10], stations)
    carried = fwi.FwiState.from_dict(stations["VW85"])
    later = dict(records[10])
    later["time"] = (
        datetime.fromisoformat(later["time"]) + timedelta(days=5)
    ).isoformat()
    scorer.score(later, stations, {})
    want = fwi.step(
        carried,
        later["temp_c"],
        later["rh_pct"],
        later["wind_kmh"],
        later["rain_24h_mm"],
        4,
        40.0,
    )[1]
    assert stations["VW85"]["codes"]["dc"] == pytest.approx(want.dc, abs=1e-12)
    much_later = dict(
        later,
        time=(datetime.fromisoformat(later["time"]) + timedelta(days=40)).isoformat(),
    )
    scorer.score(much_later, stations, {})
    fresh = fwi.step(
        fwi.FwiState.start(),
        later["temp_c"],
        later["rh_pct"],
        later["wind_kmh"],
        later["rain_24h_mm"],
        6,
        40.0,
    )[1]
    assert stations["VW85"]["codes"]["dc"] == pytest.approx(fresh.dc, abs=1e-12)


def at(msg: dict, station: str, **changes) -> dict:
    """A copy of a record from another station of the same county."""
    return dict(msg, station=dict(msg["station"], id=station), **changes)


def test_a_higher_station_decides_the_noon_at_once(tmp_path):
    """Noon of 7 May: a wet station first (no colour due), then VW85 with
    FWI 52.31 (fwi_01), class 5 (>= 33): red, decided on the same noon."""
    records = scenario_records(tmp_path)
    scorer = fire_scorer(REGION, "Test")
    stations: dict = {}
    run(scorer, records[:24], stations)  # VW85's season so far, no warning kept
    counties: dict = {}
    wet7 = at(records[24], "WET", rain_24h_mm=40.0, rh_pct=95.0)
    assert scorer.score(wet7, stations, counties) == []
    red = scorer.score(records[24], stations, counties)
    assert [(e["action"], e["level"]) for e in red] == [("issue", "red")]
    assert red[0]["trigger"]["station"] == "VW85" and red[0]["trigger"]["stations"] == 2
    assert red[0]["trigger"]["fwi"] == pytest.approx(52.31, abs=TOL)
    assert red[0]["observed_at"] == "1985-05-07T18:00:00+00:00"


def test_a_lower_colour_waits_for_every_station_of_the_noon(tmp_path):
    """Orange since 6 May; on 7 May the wet station reports first: nothing
    until VW85 reports too, whose 52.31 makes it red; on 8 May (VW85 25.72,
    orange) the downgrade waits for the wet station, then comes."""
    records = scenario_records(tmp_path)
    scorer = fire_scorer(REGION, "Test")
    stations: dict = {}
    counties: dict = {}
    run(scorer, records[:24], stations, counties)  # 13 April to 6 May
    assert counties[COUNTY]["warning"]["level"] == "orange"
    wet = [at(r, "WET", rain_24h_mm=40.0, rh_pct=95.0) for r in records[24:26]]
    assert scorer.score(wet[0], stations, counties) == []
    up = scorer.score(records[24], stations, counties)
    assert [(e["action"], e["level"]) for e in up] == [("upgrade", "red")]
    assert scorer.score(records[25], stations, counties) == []
    down = scorer.score(wet[1], stations, counties)
    assert [(e["action"], e["level"]) for e in down] == [("downgrade", "orange")]
    assert down[0]["trigger"]["fwi"] == pytest.approx(25.72, abs=TOL)


def test_a_silent_station_holds_a_lower_colour_one_noon_only(tmp_path):
    records = scenario_records(tmp_path)
    scorer = fire_scorer(REGION, "Test")
    stations: dict = {}
    counties: dict = {}
    run(scorer, records[:24], stations, counties)
    scorer.score(at(records[24], "WET", rain_24h_mm=40.0), stations, counties)
    assert scorer.score(records[24], stations, counties)[0]["level"] == "red"
    # WET says nothing more: 8 May waits for it, 9 May goes on without it
    assert scorer.score(records[25], stations, counties) == []
    lifted = scorer.score(records[26], stations, counties)
    assert [(e["action"], e["level"]) for e in lifted] == [("cancel", None)]


def test_bad_records_are_refused_with_reasons(tmp_path):
    msg = scenario_records(tmp_path)[0]
    scorer = fire_scorer(REGION, "Test")
    elsewhere = dict(msg, station=dict(msg["station"], county="cffdrs-test"))
    with pytest.raises(UnknownReferenceError, match="county 'cffdrs-test'"):
        scorer.score(elsewhere, {}, {})
    with pytest.raises(SchemaError, match="rain_1h_mm"):
        scorer.score(dict(msg, rain_1h_mm=1.0), {}, {})
    with pytest.raises(PhysicalError, match="can fall"):
        scorer.score(dict(msg, rain_24h_mm=5000.0), {}, {})
    with pytest.raises(SchemaError, match="rh_pct"):
        registry.validate(dict(msg, rh_pct=120.0), "fire_obs/1")
    with pytest.raises(SchemaError, match="temp_f"):
        registry.validate(dict(msg, temp_f=60.0), "fire_obs/1")
    with pytest.raises(SchemaError, match="rain_24h_mm"):
        registry.validate({k: v for k, v in msg.items() if k != "rain_24h_mm"})
