"""Danger classes from the FWI and the county forest-fire warning decisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.fire_csv import read_fire_csv
from models import fwi
from models.fire_danger import assess_county, decide, load_fire_rules, parse_fire_rules
from models.lifecycle import WarningState
from schemas.errors import ConfigError, PhysicalError

FIRE = Path(__file__).resolve().parents[2] / "data/samples/fire"
RULES = load_fire_rules()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, 1), (4.99, 1), (5.0, 2), (13.99, 2), (14.0, 3), (20.99, 3), (21.0, 4)]
    + [(32.99, 4), (33.0, 5), (52.31, 5)],
)
def test_class_at_each_breakpoint(value, expected):
    assert RULES.danger_class(value) == expected


def test_class_to_colour():
    assert [RULES.colour_for_class(k) for k in range(1, 6)] == [
        None,
        None,
        "yellow",
        "orange",
        "red",
    ]


def test_negative_or_missing_fwi_is_refused():
    with pytest.raises(PhysicalError, match="FWI"):
        RULES.danger_class(-1.0)
    with pytest.raises(PhysicalError, match="FWI"):
        RULES.danger_class(float("nan"))


def test_county_takes_its_worst_station():
    danger = assess_county("441224", {"a": 3.0, "b": 22.0, "c": 15.0}, None, RULES)
    assert (danger.station, danger.danger_class, danger.due) == ("b", 4, "orange")
    assert danger.class_name == "very high"


@pytest.mark.parametrize(
    ("in_force", "value", "due"),
    [
        ("orange", 19.5, "orange"),  # 19.5 >= 0.9 x 21 = 18.9: kept
        ("orange", 18.8, "yellow"),  # below 18.9: class 3 is yellow
        ("yellow", 12.6, "yellow"),  # 0.9 x 14 = 12.6: kept (>=)
        ("yellow", 12.5, None),
        (None, 13.9, None),  # nothing in force: no hysteresis
        ("red", 29.7, "red"),  # 0.9 x 33
    ],
)
def test_hysteresis_keeps_a_colour_near_its_breakpoint(in_force, value, due):
    assert assess_county("c", {"s": value}, in_force, RULES).due == due


def test_the_classic_season_as_county_warnings():
    """The 1985 cffdrs weather series as one station of one county.

    Expected decisions derived by hand from the reference FWI of fwi_01.csv
    and the rule file (yellow at 14, orange at 21, red at 33; kept down to
    12.6, 18.9 and 29.7; valid 30 h, extended with 8 h left), e.g. 17 April
    14.73 issues yellow, 18 April 13.36 keeps and extends it, 19 April 5.80
    cancels it.
    """
    expected = [
        ("04-17", "issue", "yellow"),
        ("04-18", "extend", "yellow"),
        ("04-19", "cancel", None),
        ("04-28", "issue", "yellow"),
        ("04-29", "extend", "yellow"),
        ("04-30", "extend", "yellow"),
        ("05-01", "cancel", None),
        ("05-04", "issue", "yellow"),
        ("05-05", "extend", "yellow"),
        ("05-06", "upgrade", "orange"),
        ("05-07", "upgrade", "red"),
        ("05-08", "downgrade", "orange"),
        ("05-09", "cancel", None),
        ("05-13", "issue", "yellow"),
        ("05-14", "upgrade", "orange"),
        ("05-15", "extend", "orange"),
        ("05-16", "cancel", None),
        ("05-21", "issue", "yellow"),
        ("05-22", "cancel", None),
        ("05-23", "issue", "orange"),
        ("05-24", "cancel", None),
    ]
    read = read_fire_csv(FIRE / "station_noon_vw85.csv", utc_offset_h=-6.0)
    assert len(read.observations) == 48 and not read.rejected

    codes_state, warning = fwi.FwiState.start(), WarningState()
    got, sequences = [], []
    for obs in read.observations:
        codes_state, codes = fwi.step(
            codes_state,
            obs.temp_c,
            obs.rh_pct,
            obs.wind_kmh,
            obs.rain_mm,
            obs.month,
            obs.lat,
        )
        warning, decision, _ = decide(
            warning, obs.county, {obs.station: codes.fwi}, obs.time, RULES
        )
        if decision is not None:
            got.append((obs.time.strftime("%m-%d"), decision.action, decision.level))
            sequences.append(decision.sequence)

    assert got == expected
    # each warning numbers its decisions from 1; the red day is the 4th of its warning
    assert sequences[7:13] == [1, 2, 3, 4, 5, 6]


def test_same_observation_twice_makes_no_second_decision():
    now = datetime(2026, 4, 1, 12, tzinfo=timezone(timedelta(hours=8)))
    state, first, _ = decide(WarningState(), "441202", {"s": 40.0}, now, RULES)
    again, second, _ = decide(state, "441202", {"s": 40.0}, now, RULES)
    assert first is not None and first.action == "issue" and first.level == "red"
    assert second is None and again == state
    assert first.warning_id.startswith("forest_fire:441202:")


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"breakpoints": [5.0, 14.0, 21.0]}, "breakpoints"),
        ({"breakpoints": [5.0, 21.0, 14.0, 33.0]}, "breakpoints"),
        ({"class_names": ["a", "b"]}, "class_names"),
        ({"warning": {"classes": {"purple": 3}}}, "warning"),
    ],
)
def test_bad_rule_files_are_refused(change, word):
    data = {
        "name": "t",
        "breakpoints": [5.0, 14.0, 21.0, 33.0],
        "class_names": ["1", "2", "3", "4", "5"],
        "warning": {
            "classes": {"yellow": 3, "orange": 4, "red": 5},
            "valid_h": 30,
            "extend_before_h": 8,
            "hold_h": 24,
        },
    }
    if "warning" in change:
        data["warning"] = {**data["warning"], **change["warning"]}
    else:
        data.update(change)
    with pytest.raises(ConfigError, match=word):
        parse_fire_rules(data, "test")


def test_rising_colours_are_required():
    data = {
        "name": "t",
        "breakpoints": [5.0, 14.0, 21.0, 33.0],
        "class_names": ["1", "2", "3", "4", "5"],
        "warning": {
            "classes": {"yellow": 4, "orange": 3, "red": 5},
            "valid_h": 30,
            "extend_before_h": 8,
            "hold_h": 24,
        },
    }
    with pytest.raises(ConfigError, match="rise with the colour"):
        parse_fire_rules(data, "test")
