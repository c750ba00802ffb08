"""USGS WaterML-JSON 1.1 (Pearl River flood, 2019) through the USGS reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors.gauge_usgs import read_usgs_iv
from connectors.station import Station, load_stations, to_message
from schemas.errors import ParseError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "gauge"
FIXTURE = SAMPLES / "usgs_iv_02489500_02492000_2019-02-25_03-01.json"
CST = timezone(timedelta(hours=-6))


@pytest.fixture(scope="module")
def stations() -> dict[str, Station]:
    return load_stations(SAMPLES / "stations.toml")


def response() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def gage_height_series(document: dict[str, Any], site: str) -> dict[str, Any]:
    return next(
        ts
        for ts in document["value"]["timeSeries"]
        if ts["name"] == f"USGS:{site}:00065:00000"
    )


def test_240_gage_heights_per_site(stations: dict[str, Station]) -> None:
    read = read_usgs_iv(FIXTURE, stations)
    assert read.rejected == []
    by_site: dict[str, list[Any]] = {}
    for obs in read.observations:
        by_site.setdefault(obs.station.id, []).append(obs)
    assert {site: len(obs) for site, obs in by_site.items()} == {
        "02489500": 240,
        "02492000": 240,
    }
    pearl = by_site["02489500"]
    assert pearl[0].time == datetime(2019, 2, 25, 0, 0, tzinfo=CST)
    assert pearl[-1].time == datetime(2019, 3, 1, 23, 30, tzinfo=CST)
    assert pearl[0].stage == 19.86
    assert all(obs.station.unit == "ft" for obs in read.observations)


def test_pearl_river_peak(stations: dict[str, Station]) -> None:
    read = read_usgs_iv(FIXTURE, stations, site_ids=["02489500"])
    peak = max(read.observations, key=lambda obs: obs.stage)
    assert peak.stage == 20.37
    assert peak.time == datetime(2019, 3, 1, 5, 0, tzinfo=CST)
    assert peak.time.astimezone(UTC) == datetime(2019, 3, 1, 11, 0, tzinfo=UTC)
    levels = peak.station.levels
    # NWS BXAL1: above flood (18 ft) all along, never moderate (21 ft).
    assert all(
        levels["yellow"] <= o.stage < levels["orange"] for o in read.observations
    )


def test_bogue_chitto_drops_below_action_stage(stations: dict[str, Station]) -> None:
    read = read_usgs_iv(FIXTURE, stations, site_ids=["02492000"])
    action = read.observations[0].station.levels["blue"]
    below = next(o for o in read.observations if o.stage < action)
    assert below.time == datetime(2019, 2, 26, 13, 30, tzinfo=CST)


def test_messages_carry_the_offset(stations: dict[str, Station]) -> None:
    read = read_usgs_iv(FIXTURE, stations, site_ids=["02489500"])
    msg = to_message(read.observations[0])
    assert msg["time"] == "2019-02-25T00:00:00-06:00"
    assert msg["station"]["unit"] == "ft"
    assert msg["station"]["area_codes"] == ["22117"]
    assert msg["source"] == "usgs-nwis"


def test_no_data_values_are_rejected_and_counted(
    tmp_path: Path, stations: dict[str, Station]
) -> None:
    document = response()
    readings = gage_height_series(document, "02489500")["values"][0]["value"]
    for index in (10, 11, 200):
        readings[index]["value"] = "-999999"
    path = tmp_path / "iv.json"
    path.write_text(json.dumps(document))

    read = read_usgs_iv(path, stations, site_ids=["02489500"])
    assert len(read.observations) == 237
    assert [r.reason_class for r in read.rejected] == ["missing"] * 3
    assert "2019-02-25T05:00:00.000-06:00" in read.rejected[0].where
    assert "-999999" in read.rejected[0].reason


def test_spike_is_rejected_and_the_series_goes_on(
    tmp_path: Path, stations: dict[str, Station]
) -> None:
    document = response()
    readings = gage_height_series(document, "02489500")["values"][0]["value"]
    readings[50]["value"] = "60.00"  # about +40 ft in 30 min
    path = tmp_path / "iv.json"
    path.write_text(json.dumps(document))

    read = read_usgs_iv(path, stations, site_ids=["02489500"])
    assert len(read.observations) == 239
    assert [r.reason_class for r in read.rejected] == ["physical"]
    # 24 m/h over 30 min is 12 m, above the 10 m cap: 10 m = 32.81 ft.
    assert "at most 10.00 m (32.81 ft)" in read.rejected[0].reason


def test_unit_other_than_the_station_rejects_the_series(
    stations: dict[str, Station],
) -> None:
    metric = {k: v for k, v in stations.items()}
    metric["02489500"] = Station(**{**vars(stations["02489500"]), "unit": "m"})
    read = read_usgs_iv(FIXTURE, metric)
    assert [r.reason_class for r in read.rejected] == ["unit"]
    assert "declares 'm'" in read.rejected[0].reason
    assert {o.station.id for o in read.observations} == {"02492000"}


def test_undeclared_site_is_reported(stations: dict[str, Station]) -> None:
    only_pearl = {"02489500": stations["02489500"]}
    read = read_usgs_iv(FIXTURE, only_pearl)
    assert len(read.observations) == 240
    assert [r.reason_class for r in read.rejected] == ["unknown"]
    assert "02492000" in read.rejected[0].reason
    assert "240 readings" in read.rejected[0].reason


def test_other_parameter_can_be_read(stations: dict[str, Station]) -> None:
    # 63160 is the water surface in ft NAVD88 at Bogalusa only.
    read = read_usgs_iv(FIXTURE, stations, parameter="63160")
    assert len(read.observations) == 240


def test_not_waterml(tmp_path: Path, stations: dict[str, Station]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"value": {}}')
    with pytest.raises(ParseError, match="timeSeries"):
        read_usgs_iv(path, stations)
    path.write_text("<html>")
    with pytest.raises(ParseError, match="not a readable WaterML-JSON"):
        read_usgs_iv(path, stations)
