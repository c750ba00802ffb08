"""The geological-hazard risk table: rain band x sensor level, raised by quakes."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import models.geo_risk as geo_risk
from connectors.usgs_rain import read_thresh_hourly
from models.geo_risk import load_geo_risk, parse_geo_risk
from models.landslide import evaluate_cumulative, load_thresholds, to_grid
from schemas.errors import ConfigError, PhysicalError

ROOT = Path(__file__).resolve().parents[2]
TABLE = load_geo_risk()


def _docstring_table() -> list[list[str | None]]:
    """The table as the module docstring draws it."""
    rows = []
    for line in geo_risk.__doc__.splitlines():
        words = line.split()
        if words[:2] == ["rain", "band"] and len(words) == 7:
            rows.append([None if w == "-" else w for w in words[3:]])
    return rows


def test_shipped_table_is_the_documented_one():
    documented = _docstring_table()
    assert len(documented) == 4
    assert [list(row) for row in TABLE.table] == documented


@pytest.mark.parametrize(
    ("ratio", "band"),
    [
        (None, 0),
        (0.0, 0),
        (0.69, 0),
        (0.7, 1),
        (0.99, 1),
        (1.0, 2),
        (1.49, 2),
        (1.5, 3),
    ],
)
def test_rain_bands(ratio, band):
    assert TABLE.rain_band(ratio) == band


def test_docstring_example():
    assert TABLE.level(1.2, 1, quake=False) == "orange"
    assert TABLE.level(1.2, 1, quake=True) == "red"


def test_quake_raises_by_one_colour():
    assert TABLE.level(0.1, 0, quake=False) is None
    assert TABLE.level(0.1, 0, quake=True) == "blue"
    assert TABLE.level(0.8, 0, quake=True) == "yellow"
    assert TABLE.level(2.0, 3, quake=True) == "red"


def test_sensor_alarm_is_red_whatever_the_rain():
    assert {TABLE.level(r, 3, quake=False) for r in (None, 0.0, 0.8, 1.2, 3.0)} == {
        "red"
    }


def test_bad_inputs_are_refused():
    with pytest.raises(PhysicalError, match="sensor alarm level"):
        TABLE.level(1.0, 4, quake=False)
    with pytest.raises(PhysicalError, match="ratio"):
        TABLE.level(float("nan"), 0, quake=False)


def test_mukilteo_march_2011_as_a_town():
    """15 March 2011, 23 h at Everett-Paine Field: P3 2.33 in, P15 2.58 in.

    Ratio by hand: 2.33 / (3.5 - 0.67 x 2.58) = 2.33 / 1.7714 = 1.315, band 2.
    """
    rain = read_thresh_hourly(ROOT / "data/samples/geology/usgs_thresh/KPAE_t.txt")
    grid = to_grid(rain.times, rain.rain_mm)
    cumulative = evaluate_cumulative(grid, load_thresholds().cumulative["seattle"])
    at = datetime(2011, 3, 15, 23, tzinfo=timezone(timedelta(hours=-8)))
    ratio = float(cumulative.ratio[grid.times.index(at)])
    assert ratio == pytest.approx(2.33 / (3.5 - 0.67 * 2.58))
    assert TABLE.level(ratio, 0, quake=False) == "yellow"
    assert TABLE.level(ratio, 2, quake=False) == "orange"
    assert TABLE.level(ratio, 0, quake=True) == "orange"


def _shipped() -> dict:
    return tomllib.loads(
        (ROOT / "data/rules/geo_risk.toml").read_text(encoding="utf-8")
    )


def test_a_table_that_lowers_risk_with_more_rain_is_refused():
    data = _shipped()
    data["table"]["rain_2"] = ["none", "orange", "orange", "red"]
    with pytest.raises(ConfigError, match="lower than a cell"):
        parse_geo_risk(data, "edited")


@pytest.mark.parametrize(
    ("edit", "word"),
    [
        (lambda d: d.update(rain_band_edges=[1.0, 0.7, 1.5]), "rain_band_edges"),
        (
            lambda d: d["table"].update(rain_0=["none", "blue", "purple", "red"]),
            "purple",
        ),
        (lambda d: d["table"].update(rain_3=["orange", "red"]), "4 entries"),
        (lambda d: d["quake"].pop("duration_h"), "duration_h"),
    ],
)
def test_bad_rule_files_are_refused(edit, word):
    data = _shipped()
    edit(data)
    with pytest.raises(ConfigError, match=word):
        parse_geo_risk(data, "edited")


def test_quake_rule_and_timing_come_from_the_file():
    assert (TABLE.min_magnitude, TABLE.max_distance_km, TABLE.duration_h) == (
        4.0,
        50.0,
        72.0,
    )
    assert TABLE.timing.valid_h == 24.0 and TABLE.timing.hold_min == 360.0
