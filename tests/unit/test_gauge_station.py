"""Station records and the gauge_obs/1 message."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.station import GaugeObservation, from_message, load_stations, to_message
from schemas.errors import ConfigError, SchemaError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "gauge"


def test_miho_levels_are_hrfco_official_values() -> None:
    station = load_stations(SAMPLES / "stations.toml")["3011665"]
    record = json.loads((SAMPLES / "hrfco_station_3011665.json").read_text())
    official = record["kinds"]["waterlevel"]["stations"][0]
    assert station.levels == {
        "blue": official["attwl"],
        "yellow": official["wrnwl"],
        "orange": official["almwl"],
        "red": official["srswl"],
    }
    assert (station.lon, station.lat) == (official["lon"], official["lat"])
    assert station.tz == "Asia/Seoul" and station.unit == "m"
    assert station.area_codes == []


def test_louisiana_levels_are_the_nws_categories() -> None:
    stations = load_stations(SAMPLES / "stations.toml")
    # NWS action / flood / moderate / major stages, ft (BXAL1, BSHL1).
    assert stations["02489500"].levels == {
        "blue": 16.0,
        "yellow": 18.0,
        "orange": 21.0,
        "red": 23.0,
    }
    assert stations["02492000"].levels == {
        "blue": 9.0,
        "yellow": 11.0,
        "orange": 15.0,
        "red": 18.0,
    }
    assert {s.unit for k, s in stations.items() if k != "3011665"} == {"ft"}


GOOD = """
[stations.X1]
name = "Gauge"
river = "West River"
lon = 112.47
lat = 23.05
tz = "Asia/Shanghai"
unit = "m"
level_scheme = "cn_hydro"
levels = { warning = 10.5, guarantee = 13.0 }
area_codes = ["441202001"]
"""


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('unit = "m"', 'unit = "cm"', "unit 'cm', expected 'm' or 'ft'"),
        ('tz = "Asia/Shanghai"', 'tz = "China"', "not an IANA time zone"),
        ('tz = "Asia/Shanghai"', 'tz = "Mars/Base"', "not an IANA time zone"),
        ("guarantee = 13.0", "red = 13.0", "do not fit scheme 'cn_hydro'"),
        ('river = "West River"\n', "", "has no 'river'"),
        ("lon = 112.47", 'lon = "112.47"', "lon = '112.47'"),
        ('area_codes = ["441202001"]', 'area_code = ["441202001"]', "unknown fields"),
        ('level_scheme = "cn_hydro"', 'level_scheme = "nws"', "level_scheme 'nws'"),
    ],
)
def test_bad_station_records(tmp_path: Path, old: str, new: str, words: str) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError, match="X1") as caught:
        load_stations(path)
    assert words in str(caught.value)


def test_cn_hydro_station_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(GOOD)
    station = load_stations(path)["X1"]
    obs = GaugeObservation(
        station, datetime(2024, 6, 20, 8, tzinfo=timezone(timedelta(hours=8))), 11.2
    )
    back = from_message(to_message(obs))
    assert back.station == station
    assert back.time == obs.time and back.stage == 11.2


def test_missing_station_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_stations(SAMPLES / "nope.toml")


def test_to_message_refuses_a_naive_time(tmp_path: Path) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(GOOD)
    obs = GaugeObservation(load_stations(path)["X1"], datetime(2024, 6, 20, 8), 11.2)
    with pytest.raises(SchemaError, match=r"\$.time"):
        to_message(obs)
