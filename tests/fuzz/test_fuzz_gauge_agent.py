"""Hostile ``gauge_obs/1`` records through the flood agent's decode-and-score path.

Each example is a burst of records of a few stations, starting from the
real Miho River Bridge readings: times duplicated, out of order, in the
future, without an offset or in odd zones; stages NaN, infinite, huge or
jumping; units and level schemes changed between records of one station;
stations and towns nobody declared; and records whose JSON or bytes are
broken outright. State carries over between records and examples, as in a
worker that runs for days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.gauge_csv import read_gauge_csv
from connectors.scenario import load_scenario
from connectors.station import to_message
from pipeline.demo import DEFAULT_SCENARIO
from tests.fuzz.harness import AgentPath, Tally, bounded_memory, fuzz_settings
from tests.fuzz.hostile import OFFSETS_MIN, Hostile, hostile, iso_with_offset

BATCH = 50
LEVELS = [
    {"blue": 5.0, "yellow": 7.0, "orange": 8.0, "red": 9.38},
    {"warning": 7.0, "guarantee": 8.5, "record": 9.38},
    {"warning": 7.0},
    {"red": 1.0, "blue": 9.0},
    {"guarantee": 3.0, "warning": 7.0},
    {"yellow": 1e308},
    {"blue": -1e308, "red": 1e308},
]
STATIONS = ["3011665", "02489500", "nobody-declared-this", "3011665 ", "\u202e"]
AREAS = [["441202001"], ["441202001", "441204115"], ["999999999"], [], ["22117"]]


@pytest.fixture(scope="module")
def base_messages() -> list[dict[str, Any]]:
    scenario = load_scenario(DEFAULT_SCENARIO)
    feed = next(f for f in scenario.feeds if f.kind == "gauge_csv")
    read = read_gauge_csv(
        feed.path, feed.stations or {}, columns=feed.options["columns"], unit="m"
    )
    return [to_message(obs) for obs in read.observations[::20]]


def gauge_record(h: Hostile, base: dict[str, Any]) -> bytes:
    """One record: mostly schema-valid and hostile in meaning, else broken."""
    if h.chance(0.2):
        return h.mutated_json(base)
    msg = json.loads(json.dumps(base))
    station = msg["station"]
    if h.chance(0.3):
        station["id"] = h.pick(STATIONS)
    if h.chance(0.3):
        station["unit"] = h.pick(["m", "ft"])
    if h.chance(0.3):
        station["levels"] = h.pick(LEVELS)
    if h.chance(0.3):
        station["area_codes"] = h.pick(AREAS)
    t = datetime.fromisoformat(base["time"])
    roll = h.rng.random()
    if roll < 0.8:
        msg["time"] = h.time_text(t)  # a 10-hour window: repeats, reversals
    elif roll < 0.9:
        ahead = timedelta(minutes=h.pick([4, 6, 60 * 24 * 400]))
        msg["time"] = iso_with_offset(datetime.now(UTC) + ahead, h.pick(OFFSETS_MIN))
    else:
        back = timedelta(days=h.rng.randint(0, 700_000))
        msg["time"] = iso_with_offset(t - back, h.pick(OFFSETS_MIN))
    msg["stage"] = h.stage_like(base["stage"])
    return json.dumps(msg, allow_nan=True).encode()


def test_hostile_gauge_records_are_scored_or_dead_lettered(base_messages) -> None:
    path = AgentPath()
    tally = Tally("gauge_obs/1 records on obs.gauge")
    path.feed("obs.gauge", json.dumps(base_messages[0]).encode())  # warm caches

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        base = h.pick(base_messages)
        for _ in range(count):
            outputs, letter = path.feed("obs.gauge", gauge_record(h, base))
            if letter is None:
                tally.accept()
            else:
                tally.refuse(letter["reason_class"])

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
