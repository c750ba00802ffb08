"""The Miho Bridge CSV series (HRFCO, July 2023) through the CSV gauge reader."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.gauge_csv import from_message, read_gauge_csv, to_message
from connectors.station import Station, load_stations
from schemas.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "gauge"
MIHO_CSV = SAMPLES / "miho_3011665_2023-07.csv"
KST = timezone(timedelta(hours=9))


@pytest.fixture(scope="module")
def stations() -> dict[str, Station]:
    return load_stations(SAMPLES / "stations.toml")


def raw_rows() -> list[tuple[datetime, float]]:
    """The file read by hand: naive KST times and stages."""
    with MIHO_CSV.open(newline="") as handle:
        return [
            (datetime.strptime(r["timestamp_kst"], "%Y-%m-%d %H:%M"), float(r["wl"]))
            for r in csv.DictReader(handle)
        ]


def first_crossing(rows: list[tuple[datetime, float]], level: float) -> datetime:
    return next(time for time, stage in rows if stage >= level)


def test_miho_series_reads_completely(stations: dict[str, Station]) -> None:
    read = read_gauge_csv(MIHO_CSV, stations)
    assert len(read.observations) == 216
    assert read.rejected == []
    times = [obs.time for obs in read.observations]
    assert times == sorted(times)
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert steps == {timedelta(hours=1)}
    assert times[0] == datetime(2023, 7, 10, 0, 0, tzinfo=KST)
    assert times[-1] == datetime(2023, 7, 18, 23, 0, tzinfo=KST)


def test_miho_peak_is_10_08_m_at_10_kst(stations: dict[str, Station]) -> None:
    read = read_gauge_csv(MIHO_CSV, stations)
    peak = max(read.observations, key=lambda obs: obs.stage)
    assert peak.stage == 10.08
    assert peak.time == datetime(2023, 7, 15, 10, 0, tzinfo=KST)
    assert peak.time.astimezone(UTC) == datetime(2023, 7, 15, 1, 0, tzinfo=UTC)
    assert peak.time.utcoffset() == timedelta(hours=9)  # Asia/Seoul applied


def test_miho_first_crossings_of_the_four_levels(stations: dict[str, Station]) -> None:
    rows = raw_rows()
    assert len(rows) == 216
    expected = {  # HRFCO levels and the hours they were first reached (KST)
        5.0: datetime(2023, 7, 14, 10),
        7.0: datetime(2023, 7, 14, 19),
        8.0: datetime(2023, 7, 15, 5),
        9.38: datetime(2023, 7, 15, 7),
    }
    for level, when in expected.items():
        assert first_crossing(rows, level) == when

    read = read_gauge_csv(MIHO_CSV, stations)
    levels = stations["3011665"].levels
    assert sorted(levels.values()) == sorted(expected)
    for level, when in expected.items():
        reached = next(o.time for o in read.observations if o.stage >= level)
        assert reached == when.replace(tzinfo=KST)


def test_message_round_trip(stations: dict[str, Station]) -> None:
    station = stations["3011665"].with_area_codes(["441202001"])
    read = read_gauge_csv(MIHO_CSV, {"3011665": station})
    obs = max(read.observations, key=lambda o: o.stage)
    msg = to_message(obs)
    assert msg["schema"] == "gauge_obs/1"
    assert msg["time"] == "2023-07-15T10:00:00+09:00"
    assert msg["stage"] == 10.08
    assert msg["station"]["levels"] == {
        "blue": 5.0,
        "yellow": 7.0,
        "orange": 8.0,
        "red": 9.38,
    }
    back = from_message(msg)
    assert back.time == obs.time
    assert back.stage == obs.stage
    assert back.station.level_scheme == "colour"
    assert back.station.area_codes == ["441202001"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_blank_unknown_and_unreadable_rows_are_rejected(
    tmp_path: Path, stations: dict[str, Station]
) -> None:
    path = write(
        tmp_path,
        "timestamp_kst,station_id,wl\n"
        "2023-07-15 09:00,3011665,9.80\n"
        "2023-07-15 10:00,3011665,\n"
        "2023-07-15 11:00,9999999,1.0\n"
        "2023-07-15 12:00,3011665,high\n"
        "15/07/2023 13:00,3011665,9.9\n"
        "2023-07-15 14:00,3011665,29.9\n"
        "2023-07-15 15:00,3011665,9.7\n",
    )
    read = read_gauge_csv(path, stations)
    assert [o.stage for o in read.observations] == [9.80, 9.7]
    classes = [(r.where, r.reason_class) for r in read.rejected]
    assert classes == [
        ("series.csv line 3", "missing"),
        ("series.csv line 4", "unknown"),
        ("series.csv line 5", "parse"),
        ("series.csv line 6", "parse"),
        ("series.csv line 7", "physical"),
    ]
    assert "9999999" in read.rejected[1].reason


def test_offsets_in_the_file_are_kept(
    tmp_path: Path, stations: dict[str, Station]
) -> None:
    path = write(tmp_path, "t,id,stage\n2023-07-15T01:00:00+00:00,3011665,10.08\n")
    columns = {"time": "t", "station": "id", "stage": "stage"}
    read = read_gauge_csv(path, stations, columns=columns)
    assert read.observations[0].time.utcoffset() == timedelta(0)
    assert read.observations[0].time == datetime(2023, 7, 15, 10, tzinfo=KST)


def test_station_filter_and_declared_unit(
    tmp_path: Path, stations: dict[str, Station]
) -> None:
    read = read_gauge_csv(MIHO_CSV, stations, station_ids=["02489500"])
    assert read.observations == [] and read.rejected == []
    read = read_gauge_csv(MIHO_CSV, stations, unit="ft")
    assert read.rejected[0].reason_class == "unit"
    assert "declares 'm'" in read.rejected[0].reason


def test_mapping_must_match_the_header(stations: dict[str, Station]) -> None:
    with pytest.raises(ConfigError, match=r"\['level'\] named in the mapping"):
        read_gauge_csv(
            MIHO_CSV,
            stations,
            columns={
                "time": "timestamp_kst",
                "station": "station_id",
                "stage": "level",
            },
        )
    with pytest.raises(ConfigError, match="lacks"):
        read_gauge_csv(MIHO_CSV, stations, columns={"time": "timestamp_kst"})
