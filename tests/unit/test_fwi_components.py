"""Each FWI System equation against its cffdrs sweep table.

The tables sweep every input on a grid, impossible values included (negative
humidity or rain, for which cffdrs gives NA or a meaningless number). Rows
with physical inputs must match to TOL; rows with impossible inputs must be
refused with PhysicalError, and every NA in a table must be such a row.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from models import fwi
from schemas.errors import PhysicalError

FIRE = Path(__file__).resolve().parents[2] / "data/samples/fire"
TOL = 0.01


def _bool(text: str) -> bool:
    return text.strip().upper() == "TRUE"


def _ffmc(r: dict[str, str]) -> float:
    return fwi.fine_fuel_moisture_code(
        float(r["ffmc_yda"]),
        float(r["temp"]),
        float(r["rh"]),
        float(r["ws"]),
        float(r["prec"]),
    )


def _dmc(r: dict[str, str]) -> float:
    return fwi.duff_moisture_code(
        float(r["dmc_yda"]),
        float(r["temp"]),
        float(r["rh"]),
        float(r["prec"]),
        int(r["mon"]),
        float(r["lat"]),
        _bool(r["lat.adjust"]),
    )


def _dc(r: dict[str, str]) -> float:
    return fwi.drought_code(
        float(r["dc_yda"]),
        float(r["temp"]),
        float(r["prec"]),
        int(r["mon"]),
        float(r["lat"]),
        _bool(r["lat.adjust"]),
    )


def _isi(r: dict[str, str]) -> float:
    return fwi.initial_spread_index(
        float(r["ffmc"]), float(r["ws"]), _bool(r["fbpMod"])
    )


def _bui(r: dict[str, str]) -> float:
    return fwi.buildup_index(float(r["dmc"]), float(r["dc"]))


def _fwi(r: dict[str, str]) -> float:
    return fwi.fire_weather_index(float(r["isi"]), float(r["bui"]))


def _physical(r: dict[str, str], uses: tuple[str, ...]) -> bool:
    """Whether the inputs the equation uses are possible weather."""
    if "rh" in uses and not 0.0 <= float(r["rh"]) <= 100.0:
        return False
    return not ("prec" in uses and float(r["prec"]) < 0.0)


TABLES: dict[str, tuple[Callable[[dict[str, str]], float], tuple[str, ...]]] = {
    "FineFuelMoistureCode.csv": (_ffmc, ("rh", "prec")),
    "DuffMoistureCode.csv": (_dmc, ("rh", "prec")),
    "DroughtCode.csv": (_dc, ("prec",)),
    "InitialSpreadIndex.csv": (_isi, ()),
    "BuildupIndex.csv": (_bui, ()),
    "FireWeatherIndex.csv": (_fwi, ()),
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_equation_matches_its_sweep(table):
    func, uses = TABLES[table]
    with (FIRE / table).open(newline="") as fh:
        reader = csv.DictReader(fh)
        target = reader.fieldnames[-1]
        rows = list(reader)

    compared, worst, refused = 0, 0.0, 0
    for r in rows:
        want = math.nan if r[target] == "NA" else float(r[target])
        if not _physical(r, uses):
            with pytest.raises(PhysicalError):
                func(r)
            refused += 1
            continue
        assert not math.isnan(want), f"{table}: NA for possible inputs {r}"
        worst = max(worst, abs(func(r) - want))
        compared += 1

    assert compared + refused == len(rows)
    assert compared > 0
    assert worst <= TOL, f"{table}: worst deviation {worst:.4f} over {compared} rows"


def test_sweeps_cover_the_latitude_bands():
    """The DMC and DC sweeps reach the 46 N, 20 S and 40 S tables both ways."""
    with (FIRE / "DroughtCode.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["lat"] for r in rows} == {"-90", "-17.1", "55.8"}
    assert {r["lat.adjust"] for r in rows} == {"TRUE", "FALSE"}


@pytest.mark.parametrize(
    ("lat", "month", "dmc_hours", "dc_factor"),
    [
        (55.8, 7, 12.4, 6.4),
        (23.05, 7, 10.1, 6.4),  # Zhaoqing: 20 N day lengths, northern DC factor
        (15.0, 1, 7.9, 1.4),
        (0.0, 1, 9.0, 1.4),
        (-17.1, 1, 10.1, 1.4),
        (-25.0, 1, 10.1, 6.4),
        (-40.0, 7, 6.5, -1.6),
    ],
)
def test_day_length_tables_by_band(lat, month, dmc_hours, dc_factor):
    assert fwi.dmc_day_length(month, lat) == dmc_hours
    assert fwi.dc_day_length_factor(month, lat) == dc_factor
