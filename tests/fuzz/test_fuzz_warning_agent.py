"""Hostile ``warning_event/1`` records through the CAP agent's decode-and-publish path.

Bursts of events for a small pool of warnings, so the agent's history of
each warning is in play: sequences repeated, skipped and reversed; actions
and levels in every combination the schema lets through; areas of one town,
of many, of towns the region does not have; names and trigger values with
NUL and other control characters, 70 kB strings, nested tables, branches
the CAP mapping does not know; times whose offsets, order and calendar are
odd; and records whose JSON or bytes are broken outright. Every CAP alert
the agent makes is valid CAP 1.2 (the writer checks it against the XSD).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import AgentPath, Tally, bounded_memory, fuzz_settings
from tests.fuzz.hostile import (
    EDGE_TIMES,
    OFFSETS_MIN,
    Hostile,
    hostile,
    iso_with_offset,
)

BATCH = 40
START = datetime(2020, 10, 31, 5, 0, tzinfo=UTC)
TOWNS = ["441202001", "441204115", "441225001", "441226113"]
WARNINGS = [
    "rainstorm-441202001-20201031T050000Z",
    "flood-3011665-20230715T010000Z",
    "rainstorm-441204115-20201031T060000Z",
]
LEVELS = ["blue", "yellow", "orange", "red"]
BRANCHES = ["observed", "forecast", "guessed", "", "\x00"]
EVENT = {
    "schema": "warning_event/1",
    "event_id": f"{WARNINGS[0]}:1",
    "warning_id": WARNINGS[0],
    "hazard": "rainstorm",
    "ruleset": "cma-rainstorm",
    "area": {"codes": ["441202001"], "names": ["端州区城东街道"]},
    "level": "orange",
    "previous_level": None,
    "action": "issue",
    "sequence": 1,
    "observed_at": "2020-10-31T05:00:00+00:00",
    "valid_from": "2020-10-31T05:00:00+00:00",
    "valid_to": "2020-10-31T08:00:00+00:00",
    "status": "Exercise",
    "trigger": {
        "accumulation_3h_mm": 55.2,
        "statistic": "q90",
        "branch": "observed",
        "criterion": ">= 50 mm in 3 h",
    },
}


def trigger(h: Hostile) -> dict[str, Any]:
    out: dict[str, Any] = {"accumulation_3h_mm": round(h.rng.uniform(0, 200), 2)}
    if h.chance(0.7):
        out["branch"] = h.pick(BRANCHES)
    for _ in range(h.rng.randrange(3)):
        key = h.pick(["stage", "unit", "levels", h.string()[:12], "a.b", "x" * 300])
        out[key] = h.value() if h.chance(0.7) else {"nested": h.value()}
    return out


def event_record(h: Hostile) -> bytes:
    """One event: mostly schema-valid and hostile in meaning, else broken."""
    if h.chance(0.2):
        return h.mutated_json(EVENT)
    msg = json.loads(json.dumps(EVENT))
    wid = h.pick(WARNINGS)
    action = h.pick(["issue", "upgrade", "downgrade", "extend", "cancel"])
    sequence = 1 if action == "issue" else h.pick([1, 2, 3, 4, 7, 2**40])
    msg.update(
        warning_id=wid,
        event_id=f"{wid}:{sequence}",
        hazard=h.pick(["rainstorm", "flood", "forest_fire", "landslide"]),
        action=action,
        sequence=sequence,
        level=None if action == "cancel" else h.pick(LEVELS),
        previous_level=None if action == "issue" else h.pick([*LEVELS, None]),
        status=h.pick(["Actual", "Exercise", "Test"]),
        trigger=trigger(h),
    )
    codes = h.pick([TOWNS[:1], TOWNS, ["441299999"], TOWNS[:2] + ["nowhere"]])
    names = [h.pick(["端州区", "", "\x00", "Gaoyao", "x" * 70_000]) for _ in codes]
    msg["area"] = {"codes": codes, "names": names if h.chance(0.8) else []}
    t = START + timedelta(minutes=10 * h.rng.randint(-30, 30))
    msg["observed_at"] = iso_with_offset(t, h.pick(OFFSETS_MIN))
    msg["valid_from"] = iso_with_offset(t, h.pick(OFFSETS_MIN))
    hours = h.pick([3, 3, 12, -3, 0, 24 * 365 * 100])
    msg["valid_to"] = iso_with_offset(t + timedelta(hours=hours), h.pick(OFFSETS_MIN))
    if h.chance(0.05):
        msg[h.pick(["observed_at", "valid_from", "valid_to"])] = h.pick(EDGE_TIMES)
    return json.dumps(msg, allow_nan=True).encode()


def test_hostile_warning_events_become_cap_or_dead_letters() -> None:
    path = AgentPath()
    tally = Tally("warning_event/1 records on warnings")
    path.feed("warnings", json.dumps(EVENT).encode())  # XSD, mapping table

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for _ in range(count):
            outputs, letter = path.feed("warnings", event_record(h))
            if letter is None:
                tally.accept()
            else:
                tally.refuse(letter["reason_class"])

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
