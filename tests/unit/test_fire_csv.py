"""The fire-weather station CSV reader: units in the header, physical checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.fire_csv import read_fire_csv
from schemas.errors import ConfigError, UnitError

FIRE = Path(__file__).resolve().parents[2] / "data/samples/fire"
HEADER = "date,station,lon,lat,county,temp_c,rh_pct,wind_kmh,rain_mm\n"


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "stations.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_sample_series_reads_whole():
    read = read_fire_csv(FIRE / "station_noon_vw85.csv", utc_offset_h=-6.0)
    first, last = read.observations[0], read.observations[-1]
    assert len(read.observations) == 48 and read.rejected == []
    assert (first.temp_c, first.rh_pct, first.wind_kmh, first.rain_mm) == (
        17.0,
        42.0,
        25.0,
        0.0,
    )
    assert first.time.astimezone(UTC) == datetime(1985, 4, 13, 18, tzinfo=UTC)
    assert (last.month, last.lat, last.county) == (5, 40.0, "cffdrs-test")


def test_default_time_is_noon_china_standard_time(tmp_path):
    path = _write(tmp_path, "2026-03-01,Z1,112.47,23.05,441202,18,60,10,0\n")
    obs = read_fire_csv(path).observations[0]
    assert obs.time.astimezone(UTC) == datetime(2026, 3, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "reason_class", "word"),
    [
        ("2026-03-01,Z1,112.47,23.05,441202,18,101,10,0", "physical", "rh_pct"),
        ("2026-03-01,Z1,112.47,23.05,441202,18,-5,10,0", "physical", "rh_pct"),
        ("2026-03-01,Z1,112.47,23.05,441202,18,60,10,-0.2", "physical", "rain_mm"),
        ("2026-03-01,Z1,112.47,23.05,441202,18,60,-3,0", "physical", "wind_kmh"),
        ("2026-03-01,Z1,112.47,23.05,441202,75,60,10,0", "physical", "temp_c"),
        ("2026-03-01,Z1,212.47,23.05,441202,18,60,10,0", "physical", "lon"),
        ("2026-03-01,Z1,112.47,23.05,441202,18,sixty,10,0", "parse", "rh_pct"),
        ("01/03/2026,Z1,112.47,23.05,441202,18,60,10,0", "parse", "date"),
        ("2026-03-01,,112.47,23.05,441202,18,60,10,0", "parse", "station"),
    ],
)
def test_bad_rows_are_rejected_and_the_rest_kept(tmp_path, row, reason_class, word):
    good = "2026-03-02,Z1,112.47,23.05,441202,18,60,10,0\n"
    read = read_fire_csv(_write(tmp_path, row + "\n" + good))
    assert [o.time.day for o in read.observations] == [2]
    (rejection,) = read.rejected
    assert rejection.reason_class == reason_class
    assert word in rejection.reason and "line 2" in rejection.reason


@pytest.mark.parametrize(
    ("wrong", "right"), [("wind_ms", "wind_kmh"), ("temp_f", "temp_c")]
)
def test_a_column_in_another_unit_is_refused(tmp_path, wrong, right):
    header = HEADER.replace(right, wrong)
    with pytest.raises(UnitError, match=right):
        read_fire_csv(_write(tmp_path, "", header))


def test_missing_column_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="rain_mm"):
        read_fire_csv(_write(tmp_path, "", HEADER.replace(",rain_mm", "")))
    with pytest.raises(ConfigError, match="does not exist"):
        read_fire_csv(tmp_path / "absent.csv")
