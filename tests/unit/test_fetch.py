"""The in-order hand-on and the strict commit of pipeline.fetch.

The consumer here is a small stand-in holding what the functions read of
faust's consumer (acked lists, seeks, earliest offsets); the whole loop
runs against the real broker in tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.types import TP

from pipeline import fetch
from pipeline.fetch import Cursor, admit, committable, cursors_of, handed_on, place

TP0 = TP("ews.gauge.obs", 0)
CHANGELOG = TP("ews-flood_state-changelog", 0)


class Partitions:
    """What pipeline.fetch reads of faust's consumer, and the seeks it asks."""

    def __init__(self, earliest: dict | None = None) -> None:
        self._acked: dict = defaultdict(list)
        self._acked_index: dict = defaultdict(set)
        self.seeks: list[tuple] = []
        self.earliest = earliest or {}
        self.app = SimpleNamespace(
            topics=SimpleNamespace(
                acks_enabled_for=lambda topic: not topic.endswith("-changelog")
            )
        )

    async def seek(self, tp, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def earliest_offsets(self, *tps):
        return {tp: self.earliest[tp] for tp in tps}

    def ack(self, tp, *offsets: int) -> None:
        for offset in offsets:
            self._acked[tp].append(offset)
            self._acked_index[tp].add(offset)


def hand_on(consumer: Partitions, tp, offsets) -> list[int]:
    """Offer records in the given order; the offsets handed on."""
    taken = []
    for offset in offsets:
        if asyncio.run(admit(consumer, tp, offset)):
            handed_on(consumer, tp, offset)
            taken.append(offset)
    return taken


def test_records_in_turn_are_handed_on_and_repeats_are_not():
    consumer = Partitions()
    cursors_of(consumer)[TP0] = Cursor(next=40, base=40)
    assert hand_on(consumer, TP0, [40, 41, 41, 38, 42]) == [40, 41, 42]
    assert consumer.seeks == []
    assert cursors_of(consumer)[TP0].next == 43


def test_a_record_past_a_hole_seeks_back_and_waits_for_the_missing_one(caplog):
    consumer = Partitions()
    cursors_of(consumer)[TP0] = Cursor(next=40, base=40)
    # 40 and 41 were fetched and dropped; the stale batch goes on at 42.
    with caplog.at_level(logging.WARNING, logger="pipeline.fetch"):
        assert hand_on(consumer, TP0, [42, 43, 44]) == []
    assert consumer.seeks == [(TP0, 40)]  # once, not per stale record
    assert "offsets 40 to 41 were fetched but not handed on" in caplog.text
    # The re-read starts at 40 and runs on past the stale records.
    assert hand_on(consumer, TP0, [40, 41, 42, 43, 44]) == [40, 41, 42, 43, 44]
    assert cursors_of(consumer)[TP0].seek_to is None


def test_records_gone_from_the_broker_are_passed_over_after_repeated_seeks(
    caplog, monkeypatch
):
    consumer = Partitions()
    cursors_of(consumer)[TP0] = Cursor(next=10, base=10)
    clock = iter(range(0, 1000, 2))  # 2 s between offers: every one re-seeks
    monkeypatch.setattr(fetch.time, "monotonic", lambda: float(next(clock)))
    with caplog.at_level(logging.ERROR, logger="pipeline.fetch"):
        offers = [15] * (fetch.SEEKS_BEFORE_GIVING_UP + 1)
        assert hand_on(consumer, TP0, offers) == [15]
    assert consumer.seeks == [(TP0, 10)] * fetch.SEEKS_BEFORE_GIVING_UP
    assert "offsets 10 to 14 are no longer on the broker; going on from 15" in (
        caplog.text
    )
    # The commit passes over the lost run but not over anything unacked.
    consumer.ack(TP0, 15, 16, 18)
    assert committable(consumer, TP0) == 17
    assert consumer._acked[TP0] == [18]


def test_the_commit_stops_at_the_first_offset_no_agent_acked():
    consumer = Partitions()
    cursors_of(consumer)[TP0] = Cursor(next=5, base=5)
    consumer.ack(TP0, 6, 7)
    assert committable(consumer, TP0) is None  # 5 is not acked: nothing
    consumer.ack(TP0, 5, 9)
    assert committable(consumer, TP0) == 8
    assert consumer._acked[TP0] == [9]
    assert consumer._acked_index[TP0] == {9}
    # An offset committed already (acked twice over a re-read) is dropped.
    consumer.ack(TP0, 3, 8)
    assert committable(consumer, TP0) == 10
    assert consumer._acked[TP0] == []


def test_placing_after_the_seek_to_committed():
    tp1 = TP("ews.gauge.obs", 1)
    tp2 = TP("ews.gauge.obs", 2)
    consumer = Partitions(earliest={tp1: 3})
    asyncio.run(place(consumer, {TP0: 12, tp1: None, tp2: 0, CHANGELOG: 7}))
    cursors = cursors_of(consumer)
    assert {tp.partition: c.next for tp, c in cursors.items()} == {0: 12, 1: 3, 2: 0}
    assert all(c.base == c.next for c in cursors.values())
    # aiokafka seeks only offsets above 0; the other two are sought here.
    assert sorted(consumer.seeks, key=lambda s: s[0].partition) == [(tp1, 3), (tp2, 0)]
    assert CHANGELOG not in cursors


def test_a_partition_no_seek_placed_starts_at_its_first_record():
    consumer = Partitions()
    assert hand_on(consumer, TP0, [7, 8]) == [7, 8]
    consumer.ack(TP0, 7, 8)
    assert committable(consumer, TP0) == 9


@pytest.mark.parametrize("name", ["perform_seek", "_new_offset", "_drain_messages"])
def test_install_replaces_faust_consumer_methods_once(name):
    from faust.transport.consumer import Consumer

    fetch.install()
    installed = getattr(Consumer, name)
    assert installed.__module__ == "pipeline.fetch"
    fetch.install()
    assert getattr(Consumer, name) is installed
