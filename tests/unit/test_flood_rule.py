"""The flood rule on the Miho Bridge series of July 2023 and at its levels."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.flood import FloodParams, flood_level, ladder
from models.lifecycle import Timing, WarningState, step
from schemas.errors import ConfigError, UnitError

MIHO = {"blue": 5.0, "yellow": 7.0, "orange": 8.0, "red": 9.38}
KST = timezone(timedelta(hours=9))
SERIES = (
    Path(__file__).resolve().parents[2] / "data/samples/gauge/miho_3011665_2023-07.csv"
)


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (4.99, None),
        (5.0, "blue"),
        (6.99, "blue"),
        (7.0, "yellow"),
        (7.99, "yellow"),
        (8.0, "orange"),
        (9.37, "orange"),
        (9.38, "red"),
        (10.08, "red"),
    ],
)
def test_colour_ladder_at_each_level(stage, expected):
    assert flood_level(stage, None, None, MIHO, "colour", "m") == expected


def test_hysteresis_keeps_a_colour_within_10_cm():
    assert flood_level(6.97, -0.06, "yellow", MIHO, "colour", "m") == "yellow"
    assert flood_level(6.89, -0.1, "yellow", MIHO, "colour", "m") == "blue"


CN = {"warning": 20.0, "guarantee": 22.5, "record": 24.0}


@pytest.mark.parametrize(
    ("stage", "rise", "expected"),
    [
        (19.0, 0.0, None),
        (19.5, 0.0, "blue"),
        (19.0, 0.4, "blue"),
        (19.0, 0.3, None),
        (20.0, 0.0, "yellow"),
        (22.5, 0.0, "orange"),
        (24.0, 0.0, "red"),
    ],
)
def test_chinese_hydrological_levels(stage, rise, expected):
    # blue: within 0.5 m of the warning level, or rising to it within 3 h
    assert flood_level(stage, rise, None, CN, "cn_hydro", "m") == expected


def test_feet_station_converts_the_hysteresis():
    levels = {"blue": 16.0, "yellow": 18.0, "orange": 21.0, "red": 23.0}
    # 0.1 m is 0.328 ft: 17.7 ft keeps yellow, 17.6 ft does not
    assert flood_level(17.7, None, "yellow", levels, "colour", "ft") == "yellow"
    assert flood_level(17.6, None, "yellow", levels, "colour", "ft") == "blue"
    with pytest.raises(UnitError):
        flood_level(1.0, None, None, levels, "colour", "furlong")


def test_levels_must_rise():
    with pytest.raises(ConfigError):
        ladder({"blue": 5.0, "yellow": 4.0}, "colour")


def read_miho():
    with SERIES.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = datetime.strptime(row["timestamp_kst"], "%Y-%m-%d %H:%M")
            yield t.replace(tzinfo=KST), float(row["wl"])


def test_miho_bridge_colour_sequence():
    """The published levels imply this sequence for 10-18 July 2023 (KST).

    Rises: 5.06 m at 14th 10:00 (blue), 7.02 at 19:00 (yellow); the fall to
    6.86 at 22:00 is more than 10 cm under 7.0 (blue); 7.02 at 15th 03:00 is
    the second rise through 7.0 (yellow again), 8.27 at 05:00 (orange), 9.47
    at 07:00 (red), peak 10.08 at 10:00. Recession: 9.18 at 16:00 (< 9.28,
    orange), 7.83 at 22:00 (< 7.9, yellow), 6.69 at 16th 02:00 (< 6.9, blue),
    4.75 at 10:00 (< 4.9, cancel). The second rise to 4.26 m crosses nothing.
    """
    state, prev, decisions = WarningState(), None, []
    timing = Timing(valid_h=12.0, extend_before_min=60.0, hold_min=60.0)
    for t, stage in read_miho():
        rise = (
            None
            if prev is None
            else (stage - prev[1]) / ((t - prev[0]).total_seconds() / 3600.0)
        )
        due = flood_level(stage, rise, state.level, MIHO, "colour", "m", FloodParams())
        state, d = step(state, due, t, hazard="flood", area="3011665", timing=timing)
        prev = (t, stage)
        if d and d.action != "extend":
            decisions.append((d.observed_at.strftime("%d %H:%M"), d.action, d.level))
    assert decisions == [
        ("14 10:00", "issue", "blue"),
        ("14 19:00", "upgrade", "yellow"),
        ("14 22:00", "downgrade", "blue"),
        ("15 03:00", "upgrade", "yellow"),
        ("15 05:00", "upgrade", "orange"),
        ("15 07:00", "upgrade", "red"),
        ("15 16:00", "downgrade", "orange"),
        ("15 22:00", "downgrade", "yellow"),
        ("16 02:00", "downgrade", "blue"),
        ("16 10:00", "cancel", None),
    ]
