"""The dispatcher in one process (dict tables, real dry-run gateways).

Coverage numbers are worked out by hand from the inventories below; the
Kafka-backed runs are in tests/integration/test_dispatch_*.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from models.coverage import CoverageAccount
from tests.unit.test_dispatch_support import (
    TOWN_A,
    Bus,
    alert_of,
    event,
    journal,
    settings_for,
    write_inventory,
)

# Town A of the module docstring of tests/unit/test_coverage.py, in
# 城东街道: A 1,000 persons (LA covers 900; a1-a3), B 500 (b1-b5), C 2,000
# (LC1 1,800 and LC2 300; c1-c3). One recipient stands for 100 persons.
HAND = (
    [("A", TOWN_A, 1000, 112.45, 23.12), ("B", TOWN_A, 500, 112.46, 23.13),
     ("C", TOWN_A, 2000, 112.47, 23.14)],
    [(f"{v.lower()}{i}", f"+9990000000{n:04d}", TOWN_A, v, i == 1)
     for n, (v, i) in enumerate([("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2),
                                 ("B", 3), ("B", 4), ("B", 5), ("C", 1), ("C", 2),
                                 ("C", 3)])],
    [("LA", "A", TOWN_A, 900), ("LC1", "C", TOWN_A, 1800),
     ("LC2", "C", TOWN_A, 300)],
)  # fmt: skip


def run(bus: Bus, *records: dict, settle: list[str] | None = None) -> None:
    async def go() -> None:
        await bus.start()
        try:
            for record in records:
                await bus.planner.take(record)
            await bus.settle(settle or [r["identifier"] for r in records])
        finally:
            await bus.stop()

    asyncio.run(go())


@pytest.fixture
def hand(tmp_path):
    return write_inventory(tmp_path / "inv", *HAND)


@pytest.mark.parametrize(
    ("overlap", "any_", "ratio"),
    [
        # max: A = max(300, 900), B = 500, C = max(300, 2000): 3,400.
        ("max", 3400.0, 3400 / 3500),
        # independent: A = 300 + 900 - 300 * 900 / 1000 = 930; C = 2,000.
        ("independent", 3430.0, 3430 / 3500),
    ],
)
def test_coverage_counts_a_person_reached_twice_once(
    hand, tmp_path, overlap, any_, ratio
):
    bus = Bus(
        settings_for(
            hand,
            tmp_path / "j",
            dispatch_people_per_recipient=100,
            dispatch_overlap=overlap,
        )
    )
    record = alert_of(event([TOWN_A]))
    run(bus, record)

    cov = bus.coverage(record["identifier"])
    assert cov["population"] == cov["population_in_area"] == 3500
    assert cov["reached"] == {"sms": 1100.0, "loudspeaker": 2900.0, "any": any_}
    assert cov["coverage"] == pytest.approx(ratio, abs=1e-6)
    assert cov["outcome"] == "reached" and cov["wave"] == 1
    assert cov["seconds_to_target"] is not None
    assert (
        cov["timeline"][0] == [0.0, 0.0] and cov["timeline"][-1][1] == cov["coverage"]
    )


def test_no_phone_number_is_in_an_order_or_a_receipt(hand, tmp_path):
    bus = Bus(settings_for(hand, tmp_path / "j"))
    run(bus, alert_of(event([TOWN_A])))
    assert len(bus.orders) == 14 and len(bus.receipts) >= 14
    text = repr(bus.orders) + repr(bus.receipts) + repr(bus.tables)
    assert "+999" not in text and "9990000000" not in text
    sent = journal(tmp_path / "j" / "sms.jsonl")
    assert {r["address"][:6] for r in sent} == {"+99900"}  # masked by the dry run
    assert all("****" in r["address"] for r in sent)


def many_villages(folder, recipients_each=20):
    villages = [(f"V{i}", TOWN_A, 1000, 112.45 + i / 100, 23.12) for i in range(1, 5)]
    recipients = [
        (f"r{i}{k:02d}", f"+99910000{i}{k:04d}", TOWN_A, f"V{i}", False)
        for i in range(1, 5)
        for k in range(recipients_each)
    ]
    speakers = [(f"L{i}", f"V{i}", TOWN_A, 900) for i in range(1, 5)]
    return write_inventory(folder, villages, recipients, speakers)


def test_escalation_reaches_the_target_through_failures_and_an_offline_group(
    tmp_path,
):
    # Four villages of 1,000 persons, 20 recipients each standing for 50, a
    # loudspeaker covering 900 in each; those of V3 and V4 are offline and
    # 30 % of SMS fail. Wave 1 alone reaches about 0.7 * 1000 by SMS where
    # the loudspeakers are silent: roughly (900 + 900 + 700 + 700) / 4000.
    inventory = many_villages(tmp_path / "inv")
    settings = settings_for(
        inventory,
        tmp_path / "j",
        dispatch_people_per_recipient=50,
        dispatch_dryrun_sms_failure=0.3,
        dispatch_dryrun_offline="V3,V4",
        dispatch_max_attempts=4,
    )
    bus = Bus(settings)
    record = alert_of(event([TOWN_A]))
    run(bus, record)

    cov = bus.coverage(record["identifier"])
    assert cov["outcome"] == "reached" and cov["coverage"] >= 0.95
    assert cov["wave"] >= 2
    first = CoverageAccount(
        {f"V{i}": 1000 for i in range(1, 5)}, datetime.now(UTC), people_per_recipient=50
    )
    for reach in bus.tables["reach"].values():
        if "#w" not in reach["send_id"]:
            if reach["channel"] == "sms":
                first.add_sms(reach["target_id"], reach["village_id"], first.started_at)
            else:
                first.add_loudspeaker(
                    reach["target_id"],
                    reach["village_id"],
                    reach["people"],
                    first.started_at,
                )
    assert first.compute().coverage_ratio < 0.95, "wave 1 alone must fall short"

    ledger = bus.tables["ledger"].values()
    silent = {
        e["target_id"]: e["state"] for e in ledger if e["target_id"] in ("L3", "L4")
    }
    assert silent == {"L3": "timeout", "L4": "timeout"}, "silent ones not re-sent"
    sends = Counter(r["target_id"] for r in journal(tmp_path / "j" / "sms.jsonl"))
    assert max(sends.values()) >= 2, "failed SMS were sent again"
    assert all(
        e["state"] != "failed" or e["wave"] < cov["wave"] or True for e in ledger
    )


def test_an_exercise_goes_to_drill_recipients_only(hand, tmp_path):
    bus = Bus(settings_for(hand, tmp_path / "j", dispatch_people_per_recipient=100))
    record = alert_of(event([TOWN_A], status="Exercise"))
    run(bus, record)

    sent = journal(tmp_path / "j" / "sms.jsonl")
    assert sorted(r["target_id"] for r in sent) == ["a1", "b1", "c1"]
    assert all(r["text"].startswith("【演练】") and r["exercise"] for r in sent)
    assert journal(tmp_path / "j" / "loudspeaker.jsonl") == [], "none enrolled"
    cov = bus.coverage(record["identifier"])
    assert cov["population"] == 300 and cov["population_in_area"] == 3500
    assert cov["coverage"] == 1.0


def test_enrolled_loudspeakers_take_part_in_an_exercise(hand, tmp_path):
    settings = settings_for(
        hand,
        tmp_path / "j",
        dispatch_people_per_recipient=100,
        dispatch_drill_loudspeakers="C",
    )
    bus = Bus(settings)
    run(bus, alert_of(event([TOWN_A], status="Exercise")))
    played = journal(tmp_path / "j" / "loudspeaker.jsonl")
    assert sorted(r["target_id"] for r in played) == ["LC1", "LC2"]


def test_an_update_supersedes_what_is_still_pending(hand, tmp_path):
    bus = Bus(settings_for(hand, tmp_path / "j"))
    first = alert_of(event([TOWN_A]))
    update = alert_of(
        event([TOWN_A], sequence=2, action="upgrade", level="red", previous="orange"),
        [first],
    )

    async def go() -> None:
        await bus.planner.take(first)  # its orders are queued, not yet taken
        await bus.planner.take(update)
        await bus.start()
        try:
            await bus.settle([first["identifier"], update["identifier"]])
        finally:
            await bus.stop()

    asyncio.run(go())
    old = bus.ctx.alerts[first["identifier"]]
    assert old["outcome"] == "superseded"
    assert old["superseded_by"] == update["identifier"]
    skipped = [r for r in bus.receipts if r["identifier"] == first["identifier"]]
    assert len(skipped) == 14 and {r["state"] for r in skipped} == {"skipped"}
    assert all("superseded" in r["detail"] for r in skipped)
    sent = journal(tmp_path / "j" / "sms.jsonl") + journal(
        tmp_path / "j" / "loudspeaker.jsonl"
    )
    assert {r["send_id"].split("/")[0] for r in sent} == {update["identifier"]}


def test_a_cancel_tells_those_who_were_reached(hand, tmp_path):
    # LC2 is offline: the warning never reached through it, so the
    # "warning lifted" message does not go to it either.
    bus = Bus(
        settings_for(
            hand,
            tmp_path / "j",
            dispatch_people_per_recipient=100,
            dispatch_dryrun_offline="LC2",
        )
    )
    first = alert_of(event([TOWN_A]))
    cancel = alert_of(
        event([TOWN_A], sequence=2, action="cancel", level=None, previous="orange"),
        [first],
    )

    async def go() -> None:
        await bus.start()
        try:
            await bus.planner.take(first)
            await bus.settle([first["identifier"]])
            await bus.planner.take(cancel)
            await bus.settle([cancel["identifier"]])
        finally:
            await bus.stop()

    asyncio.run(go())
    rows = journal(tmp_path / "j" / "sms.jsonl") + journal(
        tmp_path / "j" / "loudspeaker.jsonl"
    )
    lifted = sorted(
        r["target_id"] for r in rows if r["send_id"].startswith(cancel["identifier"])
    )
    assert lifted == [
        "LA",
        "LC1",
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
        "b3",
        "b4",
        "b5",
        "c1",
        "c2",
        "c3",
    ]
    assert all(
        "解除" in r["text"]
        for r in rows
        if r["target_id"] == "a1" and r["send_id"].startswith(cancel["identifier"])
    )
    cov = bus.coverage(cancel["identifier"])
    # Reached by the warning: A 900, B 500, C max(300, 1800) = 1,800.
    assert cov["population"] == 3200 and cov["coverage"] == 1.0


def test_repeats_send_nothing_twice(hand, tmp_path):
    bus = Bus(settings_for(hand, tmp_path / "j"))
    record = alert_of(event([TOWN_A]))

    async def go() -> None:
        await bus.start()
        try:
            await bus.planner.take(record)
            await bus.planner.take(record)  # a record read twice
            for order in list(bus.orders):  # every order produced twice
                await bus.sender.handle(order)
            await bus.settle([record["identifier"]])
            before = dict(bus.coverage(record["identifier"]))
            for receipt in list(bus.receipts):  # every receipt read twice
                await bus.accounting.handle(receipt)
            assert bus.coverage(record["identifier"])["reached"] == before["reached"]
        finally:
            await bus.stop()

    asyncio.run(go())
    rows = journal(tmp_path / "j" / "sms.jsonl") + journal(
        tmp_path / "j" / "loudspeaker.jsonl"
    )
    assert Counter(r["target_id"] for r in rows) == Counter(
        [f"{v}{i}" for v, n in (("a", 3), ("b", 5), ("c", 3)) for i in range(1, n + 1)]
        + ["LA", "LC1", "LC2"]
    )


def test_a_restarted_dispatcher_completes_without_sending_again(hand, tmp_path):
    # Receipts come 1.5 s after sending; the first dispatcher stops once
    # every order is at the gateway, before any receipt. The second one
    # finds the sends in the ledger, asks the dry run for their receipts
    # again and completes the alert.
    settings = settings_for(
        hand,
        tmp_path / "j",
        dispatch_dryrun_delay_s=1.5,
        dispatch_people_per_recipient=100,
        dispatch_wave_wait_s=5.0,
    )
    record = alert_of(event([TOWN_A]))
    first = Bus(settings)

    async def go() -> None:
        await first.start()
        await first.planner.take(record)
        while len(first.tables["ledger"]) < 14 or any(
            e["state"] == "sending" for e in first.tables["ledger"].values()
        ):
            await asyncio.sleep(0.02)
        await first.stop()
        assert not first.tables["reach"]
        second = Bus(settings, first.tables)
        await second.start()
        try:
            await second.settle([record["identifier"]])
        finally:
            await second.stop()

    asyncio.run(go())
    rows = journal(tmp_path / "j" / "sms.jsonl") + journal(
        tmp_path / "j" / "loudspeaker.jsonl"
    )
    assert len(rows) == 14 and len({r["target_id"] for r in rows}) == 14
    cov = first.tables["coverage"][record["identifier"]]
    assert cov["outcome"] == "reached" and cov["wave"] == 1
