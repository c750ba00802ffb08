"""Consumer lag of a worker group, and waiting until it has caught up.

Lag per partition is the log end offset minus the group's committed offset
(a partition the group never committed counts from the log start). A
pipeline has caught up when every source topic of the group has zero lag
and the produced topics have stopped growing, twice in a row: the agents
publish while they consume, so one zero reading is not proof enough.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas.errors import BrokerError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """Where a group stands on one partition."""

    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


def group_lag(
    bootstrap: str,
    group: str,
    topics: list[str],
    security: Mapping[str, Any] | None = None,
) -> list[PartitionLag]:
    """Lag of ``group`` on every partition of ``topics``.

    ``security`` holds the clients' TLS and SASL keyword arguments
    (:func:`pipeline.kafka_security.client_kwargs`); None for PLAINTEXT.
    """
    secure = dict(security or {})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ews-lag", **secure)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="ews-lag",
        enable_auto_commit=False,
        **secure,
    )
    try:
        committed = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
        }
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = consumer.end_offsets(tps) if tps else {}
        return [
            PartitionLag(
                tp.topic,
                tp.partition,
                committed.get((tp.topic, tp.partition)),
                ends[tp],
            )
            for tp in tps
        ]
    finally:
        consumer.close()
        admin.close()


def end_offsets(
    bootstrap: str, topics: list[str], security: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Total records written to each topic so far."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="ews-lag",
        enable_auto_commit=False,
        **(security or {}),
    )
    try:
        out = {}
        for t in topics:
            tps = [TopicPartition(t, p) for p in consumer.partitions_for_topic(t) or ()]
            out[t] = sum(consumer.end_offsets(tps).values()) if tps else 0
        return out
    finally:
        consumer.close()


def wait_caught_up(
    bootstrap: str,
    group: str,
    sources: list[str],
    outputs: list[str],
    *,
    timeout_s: float = 1800.0,
    poll_s: float = 1.0,
    settle: int = 3,
    stall_s: float = 30.0,
    on_stall: Callable[[list[PartitionLag]], None] | None = None,
    security: Mapping[str, Any] | None = None,
) -> float:
    """Block until ``group`` has consumed ``sources`` and ``outputs`` settled.

    A group whose committed offsets have not moved for ``stall_s`` while it
    is behind has stalled: faust 0.15 can leave a partition unfetched after
    a start or a rebalance, with its offset standing still. ``on_stall`` is
    then called with the partitions behind (a supervisor restarts the
    worker there), and the wait goes on; without it, the wait gives up.

    Returns the seconds waited. Raises :class:`BrokerError` on timeout or an
    unhandled stall, with the partitions still behind.
    """
    start = time.monotonic()
    calm, last_out = 0, None
    last_committed, moved_at = None, start
    while True:
        lags = group_lag(bootstrap, group, sources, security)
        behind = [p for p in lags if p.end > 0 and p.lag > 0]
        out = end_offsets(bootstrap, outputs, security)
        calm = calm + 1 if not behind and out == last_out else 0
        last_out = out
        if calm >= settle:
            return time.monotonic() - start
        committed = [p.committed for p in lags]
        now = time.monotonic()
        if committed != last_committed or not behind:
            last_committed, moved_at = committed, now
        detail = ", ".join(f"{p.topic}[{p.partition}] lag {p.lag}" for p in behind)
        if now - moved_at > stall_s:
            if on_stall is None:
                raise BrokerError(
                    f"group {group} stalled for {stall_s:.0f} s: {detail}"
                )
            logger.warning("group %s stalled for %.0f s: %s", group, stall_s, detail)
            on_stall(behind)
            moved_at = time.monotonic()
        if now - start > timeout_s:
            raise BrokerError(
                f"group {group} not caught up after {timeout_s:.0f} s: {detail}"
            )
        time.sleep(poll_s)
