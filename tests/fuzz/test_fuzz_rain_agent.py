"""Hostile ``area_rain/1`` records through the rainstorm agent's decode-and-score path.

Bursts of records for a few areas, both kinds the topic carries: radar
records with window totals (some windows missing, totals below the step,
coverage above one) and point records a gauge stands for, whose steps the
agent rolls itself. Times repeat, go backwards, jump years, sit at the ends
of the calendar; rain is NaN, infinite, negative, or more than has ever
fallen; areas are towns of the region, HKO stations, and codes nobody
declared. Table state carries over, as in a running worker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import AgentPath, Tally, bounded_memory, fuzz_settings
from tests.fuzz.hostile import EDGE_TIMES, Hostile, hostile

BATCH = 50
START = datetime(2020, 10, 31, 5, 0, tzinfo=UTC)
AREAS = ["441202001", "441204115", "441225001", "RF001", "N05", "nowhere", "\u202e"]
RADAR = {
    "schema": "area_rain/1",
    "area_code": "441202001",
    "time": "2020-10-31T05:00:00Z",
    "step_s": 600,
    "rain_mm": 2.5,
    "statistic": "q90",
    "pixels": 40,
    "source": "bom-66",
    "accumulations_mm": {"1": 10.0, "3": 30.0, "6": 40.0, "12": 50.0},
    "coverage": {"1": 1.0, "3": 1.0, "6": 1.0, "12": 0.5},
}
POINT = {
    "schema": "area_rain/1",
    "area_code": "RF001",
    "time": "2020-10-31T05:00:00Z",
    "step_s": 3600,
    "rain_mm": 12.0,
    "statistic": "point",
    "pixels": 1,
    "source": "hko",
}


def rain_amount(h: Hostile) -> float:
    roll = h.rng.random()
    if roll < 0.7:
        return round(h.rng.uniform(0.0, 120.0), 2)
    if roll < 0.8:
        return h.pick([0.0, 655.34, 1e6, 1e300])
    return h.float()


def rain_record(h: Hostile) -> bytes:
    """One record: mostly schema-valid and hostile in meaning, else broken."""
    base = h.pick([RADAR, POINT])
    if h.chance(0.2):
        return h.mutated_json(base)
    msg = json.loads(json.dumps(base))
    msg["area_code"] = h.pick(AREAS)
    roll = h.rng.random()
    if roll < 0.85:
        t = START + timedelta(minutes=10 * h.rng.randint(-36, 36))
        msg["time"] = t.strftime("%Y-%m-%dT%H:%M:%S") + h.pick(["Z", "+00:00"])
    elif roll < 0.95:
        msg["time"] = h.pick(EDGE_TIMES)
    else:
        t = START + timedelta(days=h.rng.randint(-700_000, 2_900_000))
        msg["time"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    msg["step_s"] = h.pick([600, 600, 3600, 1, 86_400 * 400, 2**62])
    msg["rain_mm"] = rain_amount(h)
    if "accumulations_mm" in msg:
        windows = msg["accumulations_mm"]
        for key in list(windows):
            if h.chance(0.1):
                del windows[key]
            else:
                windows[key] = rain_amount(h)
        if h.chance(0.2):
            msg["forecast_mm"] = {k: rain_amount(h) for k in windows}
        if h.chance(0.1):
            msg["coverage"] = {k: h.pick([0.0, 1.0, 1.5, -0.1]) for k in windows}
    return json.dumps(msg, allow_nan=True).encode()


def test_hostile_area_rain_records_are_scored_or_dead_lettered() -> None:
    path = AgentPath()
    tally = Tally("area_rain/1 records on rain.area")
    path.feed("rain.area", json.dumps(RADAR).encode())  # warm caches

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for _ in range(count):
            outputs, letter = path.feed("rain.area", rain_record(h))
            if letter is None:
                tally.accept()
            else:
                tally.refuse(letter["reason_class"])

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


def check_state(tables: dict[str, dict[str, Any]]) -> None:
    """Every table entry the agent keeps can go to its changelog as JSON."""
    for table in tables.values():
        for entry in table.values():
            json.dumps(entry, allow_nan=False)
