"""HKO hourly station rainfall through the HKO reader."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.rain_hko import (
    RainRead,
    RainStation,
    RainTally,
    iter_hko_rainfall,
    largest,
    load_hko_stations,
    read_hko_rainfall,
    to_message,
)
from schemas import registry
from schemas.errors import ConfigError

RAIN = Path(__file__).resolve().parents[2] / "data" / "samples" / "rain"
WIDE = RAIN / "hko_rf_past_hour_wide.csv"
HKT = timezone(timedelta(hours=8))


Stations = dict[str, RainStation]


@pytest.fixture(scope="module")
def stations() -> Stations:
    return load_hko_stations(RAIN / "hko_rf_stations.csv")


@pytest.fixture(scope="module")
def whole(stations: Stations) -> RainRead:
    return read_hko_rainfall(WIDE, stations)


def cells() -> tuple[int, int]:
    """Filled and blank cells, counted straight from the file."""
    filled = blank = 0
    with WIDE.open(newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for row in rows:
            filled += sum(1 for v in row[1:] if v != "")
            blank += sum(1 for v in row[1:] if v == "")
    return filled, blank


def test_station_table(stations: Stations) -> None:
    assert len(stations) == 36
    tai_mei_tuk = stations["RF004"]
    assert tai_mei_tuk.name_en == "Tai Mei Tuk"
    assert tai_mei_tuk.name_tc == "大美督"
    assert (tai_mei_tuk.lon, tai_mei_tuk.lat) == (114.2375, 22.47527778)


def test_every_value_read_and_every_blank_counted(whole: RainRead) -> None:
    filled, blank = cells()
    assert (filled, blank) == (162_792, 8_928)
    assert whole.tally.points == filled == len(whole.points)
    assert sum(whole.tally.missing.values()) == blank
    assert whole.tally.rejected == []


def test_times_are_aware_hkt(whole: RainRead) -> None:
    first = whole.points[0]
    assert first.time == datetime(2025, 6, 20, 10, 45, tzinfo=HKT)
    assert first.time.utcoffset() == timedelta(hours=8)
    assert whole.points[-1].time == datetime(2026, 1, 19, 11, 30, tzinfo=HKT)


def test_known_value(whole: RainRead) -> None:
    # SOURCES.md: 92 mm at Tai Mei Tuk (RF004) in the hour to 2025-08-05 06:00.
    point = next(
        p
        for p in whole.points
        if p.station == "RF004" and p.time == datetime(2025, 8, 5, 6, tzinfo=HKT)
    )
    assert point.rain_mm == 92.0
    assert point.name == "Tai Mei Tuk"


def test_three_largest_hours(whole: RainRead) -> None:
    top = [(p.station, p.name, p.time, p.rain_mm) for p in largest(whole.points)]
    assert top == [
        ("RF006", "Pak Tam Chung", datetime(2025, 9, 24, 16, tzinfo=HKT), 110.0),
        ("RF018", "Tsuen Wan Ho Koon", datetime(2025, 8, 5, 6, tzinfo=HKT), 95.0),
        ("RF004", "Tai Mei Tuk", datetime(2025, 8, 5, 6, tzinfo=HKT), 92.0),
    ]


def test_point_message(whole: RainRead) -> None:
    point = largest(whole.points, 1)[0]
    msg = to_message(point)
    assert msg == {
        "schema": "area_rain/1",
        "area_code": "RF006",
        "time": "2025-09-24T08:00:00Z",
        "step_s": 3600,
        "rain_mm": 110.0,
        "statistic": "point",
        "pixels": 1,
        "source": "hko",
        "accumulations_mm": {"1": 110.0},
    }
    assert registry.decode(registry.encode(msg), "area_rain/1") == msg
    assert datetime.fromisoformat(msg["time"]) == point.time.astimezone(UTC)


def test_bad_cells_are_rejected_not_invented(
    tmp_path: Path, stations: Stations
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        "obs_time_hkt,RF004,RF005,XX9\n"
        "2025-08-05T06:00:00+08:00,92,,1\n"
        "2025-08-05T07:00:00+08:00,-3,500,2\n"
        "2025-08-05T08:00:00,1,1,1\n"
        "2025-08-05T09:00:00+08:00,wet,4,3\n"
    )
    tally = RainTally()
    points = list(iter_hko_rainfall(path, stations, tally=tally))
    assert [(p.station, p.rain_mm) for p in points] == [("RF004", 92.0), ("RF005", 4.0)]
    assert tally.missing == {"RF005": 1}
    assert [(r.where, r.reason_class) for r in tally.rejected] == [
        ("wide.csv column XX9", "unknown"),
        ("wide.csv line 3 RF004", "physical"),
        ("wide.csv line 3 RF005", "physical"),
        ("wide.csv line 4", "unit"),
        ("wide.csv line 5 RF004", "parse"),
    ]
    assert "500.0 mm in 60 min" in tally.rejected[2].reason


def test_station_selection(stations: Stations) -> None:
    tally = RainTally()
    points = iter_hko_rainfall(WIDE, stations, station_codes=["RF006"], tally=tally)
    assert max(p.rain_mm for p in points) == 110.0
    with pytest.raises(ConfigError, match="no column for stations"):
        list(iter_hko_rainfall(WIDE, stations, station_codes=["RF999"]))
