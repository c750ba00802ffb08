"""Hand each partition's records to the agents in offset order, with no holes.

faust 0.15.3's fetch loop keeps the last offset it read per partition and
drops any record below it; a record more than one offset above it opens a
"gap" that its commit then counts as done. Both go wrong around a
rebalance: a batch fetched before the seek to the committed offsets is
still being handed on after it, so the read offset runs ahead of the
seek, the records re-read from the committed offset are dropped as old,
and the commit goes past them. After repeated worker kills that lost 11
to 39 of 185 CAP alerts (``tests/integration/test_faults.py``).

Here, per partition of a topic whose records are acked, a cursor holds the
next offset to hand on and the first offset not yet committed, both set
from the committed offset at every seek. A record is handed on only if it
is the next one; a record below it was handed on already; a record above
it means records were fetched and never handed on, so the partition is
sought back to the missing offset and read again. Commits go only through
the run of acked offsets that starts at the first uncommitted one, so no
offset is committed that an agent did not take. Records that the broker
no longer holds (retention deleted them while the worker was behind) are
passed over after repeated seeks find them missing, and logged as an
error with their offsets.

The changelog topics of tables (compacted, so with real holes, and never
committed by the group) keep faust's own rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# A seek back that finds the missing offset still missing is tried again
# after this long, and given up after this many tries.
RESEEK_AFTER_S = 1.0
SEEKS_BEFORE_GIVING_UP = 5
# Hand the event loop back after this many records of one batch.
YIELD_EVERY = 100


@dataclass
class Cursor:
    """What a worker knows of one partition it consumes."""

    next: int
    base: int
    seek_to: int | None = None
    seeks: int = 0
    sought_at: float = 0.0
    # first offset -> offset after, of runs the broker no longer holds
    lost: dict[int, int] = field(default_factory=dict)


def cursors_of(consumer: Any) -> dict[Any, Cursor]:
    """The consumer's cursors by partition (made on first use)."""
    found = consumer.__dict__.get("_ews_cursors")
    if found is None:
        found = consumer.__dict__["_ews_cursors"] = {}
    return found


async def admit(consumer: Any, tp: Any, offset: int) -> bool:
    """Whether the record at ``offset`` of ``tp`` is the next to hand on.

    A record out of turn is refused; if records are missing before it, the
    partition is sought back to the first missing one.
    """
    cursors = cursors_of(consumer)
    cursor = cursors.get(tp)
    if cursor is None:
        # No seek has placed this partition yet: it starts here.
        cursors[tp] = Cursor(next=offset, base=offset)
        return True
    if offset == cursor.next:
        cursor.seek_to = None
        cursor.seeks = 0
        return True
    if offset < cursor.next:
        return False  # handed on already
    now = time.monotonic()
    if cursor.seek_to == cursor.next and now - cursor.sought_at < RESEEK_AFTER_S:
        return False  # a seek back is under way
    if cursor.seek_to == cursor.next and cursor.seeks >= SEEKS_BEFORE_GIVING_UP:
        logger.error(
            "%s[%d] offsets %d to %d are no longer on the broker; going on from %d",
            tp.topic,
            tp.partition,
            cursor.next,
            offset - 1,
            offset,
        )
        cursor.lost[cursor.next] = offset
        cursor.next = offset
        cursor.seek_to = None
        cursor.seeks = 0
        return True
    logger.warning(
        "%s[%d] offsets %d to %d were fetched but not handed on; reading them again",
        tp.topic,
        tp.partition,
        cursor.next,
        offset - 1,
    )
    cursor.seeks = cursor.seeks + 1 if cursor.seek_to == cursor.next else 1
    cursor.seek_to = cursor.next
    cursor.sought_at = now
    await consumer.seek(tp, cursor.next)
    return False


def handed_on(consumer: Any, tp: Any, offset: int) -> None:
    """Note that the record at ``offset`` reached the agents' streams."""
    cursor = cursors_of(consumer).get(tp)
    if cursor is not None and offset == cursor.next:
        cursor.next = offset + 1


def committable(consumer: Any, tp: Any) -> int | None:
    """The offset to commit for ``tp``, or None if there is nothing new.

    Takes the acked offsets that run on from the first uncommitted one out
    of faust's acked list; offsets below it (committed already) go too.
    """
    cursor = cursors_of(consumer).get(tp)
    acked = consumer._acked[tp]
    if cursor is None or not acked:
        return None
    acked.sort()
    end = cursor.base
    taken = 0
    while True:
        if end in cursor.lost:
            end = cursor.lost.pop(end)
        elif taken < len(acked) and acked[taken] < end:
            taken += 1
        elif taken < len(acked) and acked[taken] == end:
            taken += 1
            end += 1
        else:
            break
    consumer._acked_index[tp].difference_update(acked[:taken])
    del acked[:taken]
    if end == cursor.base:
        return None
    cursor.base = end
    return end


async def place(consumer: Any, committed: dict[Any, int | None]) -> None:
    """Set the cursors after a seek to the committed offsets.

    aiokafka seeks only partitions with a committed offset above 0 and
    leaves the others where their fetch stands, which may be past records
    never handed on; those are sought to their first offset (0 or, with
    nothing committed, the earliest the broker holds) here.
    """
    cursors = cursors_of(consumer)
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    placed = {tp: o for tp, o in committed.items() if acks_enabled_for(tp.topic)}
    unset = [tp for tp, o in placed.items() if o is None or o < 0]
    if unset:
        placed.update(await consumer.earliest_offsets(*unset))
    for tp, offset in placed.items():
        if tp in unset or not offset:
            await consumer.seek(tp, offset or 0)
        cursors[tp] = Cursor(next=offset or 0, base=offset or 0)


async def drain_in_order(consumer: Any, fetcher: Any) -> None:
    """faust's fetch loop, with :func:`admit` deciding what is handed on."""
    from faust.transport.consumer import CONSUMER_FETCHING  # noqa: PLC0415

    callback = consumer.callback
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    read_offset = consumer._read_offset
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    since_yield = 0
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            consumer.diag.set_flag(CONSUMER_FETCHING)
            batch = consumer.getmany(timeout=1.0)
            await consumer.sleep(0)
            if consumer.should_stop:
                continue
            async for tp, message in batch:
                since_yield += 1
                if since_yield > YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = 0
                offset = message.offset
                in_order = acks_enabled_for(message.topic)
                if in_order:
                    if not await admit(consumer, tp, offset):
                        continue
                else:
                    last = read_offset.get(tp)
                    if last is not None and offset < last:
                        continue
                every = consumer._commit_every
                if every is not None and consumer._n_acked >= every:
                    consumer._n_acked = 0
                    await consumer.commit()
                delivery = callback(message)
                waited = await consumer.wait_first(
                    delivery, consumer.suspend_flow.wait()
                )
                if in_order and delivery in waited.done:
                    handed_on(consumer, tp, offset)
                read_offset[tp] = offset
            consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            logger.info("broker stopped the consumer while shutting down")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            return
        raise
    except Exception:
        logger.exception("fetch loop failed")
        raise
    finally:
        consumer.diag.unset_flag(CONSUMER_FETCHING)


def install() -> None:
    """Put the in-order fetch loop and strict commits into faust's consumer."""
    from faust.transport.consumer import Consumer  # noqa: PLC0415

    if getattr(Consumer, "ews_in_order", False):
        return
    faust_new_offset = Consumer._new_offset
    faust_revoked = Consumer.on_partitions_revoked

    async def perform_seek(self: Consumer) -> None:
        committed = await self.seek_to_committed()
        self._read_offset.update(
            {tp: o if o is not None and o >= 0 else None for tp, o in committed.items()}
        )
        self._committed_offset.update(
            {tp: o if o else None for tp, o in committed.items() if o is not None}
        )
        await place(self, dict(committed))

    def _new_offset(self: Consumer, tp: Any) -> int | None:
        if tp not in cursors_of(self):
            return faust_new_offset(self, tp)
        return committable(self, tp)

    async def on_partitions_revoked(self: Consumer, revoked: Any) -> None:
        await faust_revoked(self, revoked)
        cursors = cursors_of(self)
        for tp in revoked:
            cursors.pop(tp, None)

    async def _drain_messages(self: Consumer, fetcher: Any) -> None:
        await drain_in_order(self, fetcher)

    # XXX: replaces four faust 0.15.3 Consumer methods; recheck on upgrade.
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    Consumer.ews_in_order = True  # type: ignore[attr-defined]
