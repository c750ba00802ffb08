"""Replay a scenario's feeds onto Kafka in time order.

Records come from :meth:`connectors.scenario.Scenario.records` already
merged across feeds by observation time. Each is validated against its
schema on the way out; one that fails (or a file a connector cannot read)
is published to the dead-letter topic with its reason instead, so a replay
never loses a record silently. ``speed`` compresses the gaps between
observation times (``speed=60`` plays an hour in a minute); ``None`` sends
as fast as the broker takes them.

The producer rides out a broker that restarts or a leader that moves: it
keeps every unacknowledged record and retries it for up to
:data:`DELIVERY_TIMEOUT_MS`. A record the broker still has not taken then
is counted, and :func:`replay` raises :class:`schemas.errors.BrokerError`
at the end instead of reporting a complete replay.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from connectors.scenario import ReplayRecord, Scenario
from pipeline.deadletter import dead_letter, from_rejection
from pipeline.kafka_security import client_kwargs
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import BrokerError, InputError

logger = logging.getLogger(__name__)

DELIVERY_TIMEOUT_MS = 120_000


@dataclass
class ReplayStats:
    """What a replay sent."""

    sent: Counter = field(default_factory=Counter)
    dead: int = 0
    failed: list[BaseException] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def producer(
    bootstrap: str, security: Mapping[str, Any] | None = None
) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement of every record.

    ``security`` holds its TLS and SASL keyword arguments
    (:func:`pipeline.kafka_security.client_kwargs`); None for PLAINTEXT.
    """
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        **(security or {}),
        acks="all",
        linger_ms=5,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        max_block_ms=DELIVERY_TIMEOUT_MS,
        max_request_size=1_048_576,
        max_in_flight_requests_per_connection=1,
    )


def replay(
    scenario: Scenario,
    settings: Settings,
    *,
    speed: float | None = None,
    progress: bool = True,
    records: Iterable[ReplayRecord] | None = None,
    rejections: bool = True,
) -> ReplayStats:
    """Publish every record of ``scenario``; return what was sent.

    ``records`` replaces the scenario's own record stream (a test may send
    part of it, or records of its own); ``rejections=False`` leaves the
    readings the connectors refused for a later call to send.
    """
    stats = ReplayStats()
    prod = producer(settings.bootstrap, client_kwargs(settings))
    started_wall = time.monotonic()
    columns = (
        TextColumn("[bold]replay[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    )
    total = scenario.count_records() if hasattr(scenario, "count_records") else None
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task(scenario.name, total=total)
        try:
            for rec in scenario.records() if records is None else records:
                if stats.first is None:
                    stats.first = rec.time
                if speed:
                    due = (rec.time - stats.first).total_seconds() / speed
                    lag = due - (time.monotonic() - started_wall)
                    if lag > 0:
                        time.sleep(lag)
                _send(prod, settings, rec, stats)
                stats.last = rec.time
                bar.advance(task)
            if rejections:
                _rejections(prod, settings, scenario, stats)
        finally:
            prod.flush()
            prod.close()
    if stats.failed:
        raise BrokerError(
            f"replay of {scenario.name}: {len(stats.failed)} records were not "
            f"acknowledged by {settings.bootstrap} within "
            f"{DELIVERY_TIMEOUT_MS / 1000:.0f} s (first: {stats.failed[0]!r})"
        )
    logger.info(
        "replayed %s: %d records (%s), %d dead letters",
        scenario.name,
        stats.total,
        dict(stats.sent),
        stats.dead,
    )
    return stats


def _send(prod: KafkaProducer, settings: Settings, rec, stats: ReplayStats) -> None:
    error = getattr(rec, "error", None)
    if error is not None:
        _dead(prod, settings, rec, error, getattr(rec, "original", None), stats)
        return
    value = rec.value
    if isinstance(value, dict):
        try:
            value = registry.encode(value)
        except InputError as exc:
            _dead(prod, settings, rec, exc, repr(rec.value).encode(), stats)
            return
    future = prod.send(settings.topic(rec.topic), key=rec.key, value=value)
    future.add_errback(stats.failed.append)
    stats.sent[rec.topic] += 1


def _dead(prod, settings, rec, exc, original, stats: ReplayStats) -> None:
    letter = dead_letter(
        source=f"replay:{rec.feed}",
        exc=exc,
        original=original,
        now=datetime.now(UTC),
        topic=settings.topic(rec.topic),
    )
    logger.warning("dead letter from feed %s: %s", rec.feed, letter["reason"])
    prod.send(
        settings.topic("deadletter"),
        key=rec.feed.encode(),
        value=registry.encode(letter),
    ).add_errback(stats.failed.append)
    stats.dead += 1


def _rejections(prod, settings, scenario: Scenario, stats: ReplayStats) -> None:
    """Dead-letter every reading the connectors refused while reading."""
    topics = {feed.name: feed.topic for feed in scenario.feeds}
    now = datetime.now(UTC)
    for feed, rejected in scenario.rejected.items():
        for rejection in rejected:
            letter = from_rejection(
                rejection, feed=feed, topic=settings.topic(topics[feed]), now=now
            )
            prod.send(
                settings.topic("deadletter"),
                key=feed.encode(),
                value=registry.encode(letter),
            ).add_errback(stats.failed.append)
            stats.dead += 1
        if rejected:
            logger.warning("feed %s: %d readings refused", feed, len(rejected))
