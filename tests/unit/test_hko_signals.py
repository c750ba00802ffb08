"""The HKO rule set on the Hong Kong Observatory's own hourly gauge data.

Each station is its own point area. Its rainstorm signal, decided hour by
hour through the rainstorm scorer, must follow the HKO levels as they read
in the raw CSV: black whenever an hour brings >= 70 mm, at least red
whenever >= 50 mm, at least amber whenever >= 30 mm, and a station whose
rain never reaches 30 mm in an hour never warns.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from connectors.rain_hko import iter_hko_rainfall, load_hko_stations, to_message
from models.rules import load_ruleset
from pipeline.agents.scoring import RainstormScorer

RAIN = Path(__file__).resolve().parents[2] / "data" / "samples" / "rain"
RANK = {None: -1, "yellow": 0, "orange": 1, "red": 2}


@pytest.fixture(scope="module")
def run():
    stations = load_hko_stations(RAIN / "hko_rf_stations.csv")
    scorer = RainstormScorer(load_ruleset("hko-rainstorm"), {}, "Exercise")
    windows, states, level_at, events = {}, {}, {}, []
    for point in iter_hko_rainfall(RAIN / "hko_rf_past_hour_wide.csv", stations):
        msg = to_message(point)
        code = msg["area_code"]
        windows[code], states[code], evs = scorer.score(
            msg, windows.get(code), states.get(code)
        )
        events.extend(evs)
        level_at[(code, point.time)] = states[code]["level"]
    return level_at, events


def raw_hours():
    """(station, time) -> mm straight from the wide CSV, blanks left out."""
    out = {}
    with (RAIN / "hko_rf_past_hour_wide.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = datetime.fromisoformat(row.pop("obs_time_hkt"))
            for code, text in row.items():
                if text.strip():
                    out[(code, t)] = float(text)
    return out


def test_levels_follow_the_hourly_totals(run):
    level_at, _ = run
    checked = defaultdict(int)
    for key, mm in raw_hours().items():
        level = level_at[key]
        if mm >= 70:
            assert level == "red", (key, mm, level)
            checked["black"] += 1
        elif mm >= 50:
            assert RANK[level] >= RANK["orange"], (key, mm, level)
            checked["red"] += 1
        elif mm >= 30:
            assert RANK[level] >= RANK["yellow"], (key, mm, level)
            checked["amber"] += 1
    # the season holds hours at every level (peaks of 110, 95 and 92 mm)
    assert checked["black"] >= 3 and checked["red"] >= 1 and checked["amber"] >= 1


def test_quiet_stations_never_warn(run):
    _, events = run
    wettest = defaultdict(float)
    for (code, _), mm in raw_hours().items():
        wettest[code] = max(wettest[code], mm)
    warned = {e["area"]["codes"][0] for e in events}
    assert warned == {code for code, mm in wettest.items() if mm >= 30}


def test_the_wettest_hour_is_a_black_signal(run):
    _, events = run
    black = [
        e for e in events if e["level"] == "red" and e["area"]["codes"][0] == "RF006"
    ]
    assert black and black[0]["trigger"]["signal"] == "black"
    assert any(e["trigger"]["accumulation_1h_mm"] == 110.0 for e in black)
