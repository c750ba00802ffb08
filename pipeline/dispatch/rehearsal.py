"""Dispatching a finished run's CAP alerts, each in its time (the demo's last step).

A replay compresses hours into seconds: the Alert, the Updates and the
Cancel of one warning leave the CAP agent within a second of each other,
and an Update supersedes what is still pending of the message before it,
which is then everything. In the scenario those messages are tens of
minutes apart, long enough for each dispatch to end. :func:`dispatch_after`
therefore runs the dispatcher once the agents are done, in a worker of its
own on its own topics, and hands it the run's alerts in ``sent`` order: a
message goes in once the dispatch of every message it references is over,
while the messages of other warnings go in alongside. Times to target are
then the dispatcher's own, from taking a message to the receipt that
reached the target.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.dispatch.planner import DISPATCHED_STATUSES, DISPATCHED_TYPES
from pipeline.dispatch.report import coverage_topic
from pipeline.settings import Settings
from schemas.errors import BrokerError

logger = logging.getLogger(__name__)


def dispatch_settings(settings: Settings) -> Settings:
    """The dispatcher worker's settings: the run's, on topics of its own."""
    return replace(
        settings,
        app_id=f"{settings.app_id}-dispatch",
        topic_prefix=f"{settings.topic_prefix}dispatch.",
        archive_dir="",
        dispatch_enabled=True,
    )


def run_alerts(settings: Settings) -> list[dict[str, Any]]:
    """The disseminated alerts of a run, in ``sent`` order."""
    from pipeline.summary import read_topic  # noqa: PLC0415 (summary imports us)

    alerts = {}
    for rec in read_topic(settings.bootstrap, settings.topic("alerts.cap")):
        env = json.loads(rec.value)
        if env["msgType"] in DISPATCHED_TYPES and env["status"] in DISPATCHED_STATUSES:
            alerts.setdefault(env["identifier"], env)
    return sorted(alerts.values(), key=lambda e: (e["sent"], e["identifier"]))


def ready(
    waiting: list[dict[str, Any]], closed: set[str], known: set[str]
) -> list[dict[str, Any]]:
    """The waiting alerts whose referenced messages' dispatch is over.

    A reference to a message the dispatcher never takes (not in ``known``)
    does not hold an alert back.
    """
    return [
        a
        for a in waiting
        if all(r in closed or r not in known for r in a["references"])
    ]


class CoverageWatch:
    """Follows the ``dispatch_coverage`` changelog with one consumer."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            enable_auto_commit=False,
            client_id="ews-rehearsal",
        )
        topic = coverage_topic(settings)
        parts = self.consumer.partitions_for_topic(topic) or set()
        self.consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        self.consumer.seek_to_beginning()
        self.latest: dict[str, dict[str, Any]] = {}

    def closed(self, timeout_ms: int = 500) -> set[str]:
        """Identifiers whose dispatch is over, after reading what is new."""
        for batch in self.consumer.poll(timeout_ms=timeout_ms).values():
            for rec in batch:
                if rec.key is not None and rec.value is not None:
                    self.latest[json.loads(rec.key)] = json.loads(rec.value)
        return {i for i, s in self.latest.items() if s.get("state") == "closed"}

    def close(self) -> None:
        self.consumer.close()


def feed(
    settings: Settings, alerts: list[dict[str, Any]], *, timeout_s: float = 900.0
) -> int:
    """Publish ``alerts`` as their references' dispatch ends, and wait until
    every one's dispatch is over; return how many were published."""
    known = {a["identifier"] for a in alerts}
    waiting = list(alerts)
    watch = CoverageWatch(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        closed: set[str] = set()
        while waiting or not known <= closed:
            for alert in ready(waiting, closed, known):
                producer.send(
                    settings.topic("alerts.cap"),
                    key=alert["warning_id"].encode(),
                    value=json.dumps(alert, ensure_ascii=False).encode(),
                )
                waiting.remove(alert)
            producer.flush()
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"dispatch of {len(known - closed)} of {len(known)} alerts not "
                    f"over after {timeout_s:.0f} s ({len(waiting)} not yet handed over)"
                )
            closed = watch.closed()
    finally:
        producer.close()
        watch.close()
    return len(alerts)


def dispatch_after(run: Settings, home: Path) -> tuple[Settings, float]:
    """Dispatch the run's alerts in a worker of its own; (its settings, seconds)."""
    from pipeline.worker import WorkerProcess, prepare  # noqa: PLC0415

    settings = dispatch_settings(run)
    prepare(settings)
    worker = WorkerProcess(settings, home, name="dispatcher")
    started = time.monotonic()
    worker.start()
    try:
        worker.wait_ready()
        alerts = run_alerts(run)
        fed = feed(settings, alerts)
    finally:
        worker.stop()
    logger.info("dispatched %d alerts of the run", fed)
    return settings, time.monotonic() - started
