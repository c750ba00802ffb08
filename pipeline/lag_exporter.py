"""``ews lag-exporter``: the progress of consumer groups, read from the broker.

A worker's own exporter goes silent when the worker hangs (stopped, wedged
in a rebalance, its event loop blocked), which is exactly when its offsets
stop advancing. The stalled-consumer alert is therefore fed from outside the
worker: every ``interval_s`` this exporter asks the broker for the committed
offsets of its groups and the end offsets of their topics, and exports per
group, topic and partition the lag, the committed offset and the seconds
since that offset last advanced (the ``LAG_SERIES`` of
:mod:`pipeline.metrics`). Besides, it reads the Kafka timestamp of the newest
record of each feed topic (``obs.radar``, ``obs.gauge``), for the alert on
missing radar frames, and counts the records of the dead-letter topic by
source and reason class: those written by replays and connectors as well as
by the agents.

Topic labels are catalogue names (``obs.radar``), the run's prefix removed.
The first poll runs before the HTTP server starts, so a scrape never sees
the dead-letter count climb from zero to the topic's total after a restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import SimpleNamespace

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from prometheus_client import start_http_server

from pipeline.metrics import add_process_collectors, make_lag_metrics
from pipeline.settings import Settings
from pipeline.topics import ALL

logger = logging.getLogger(__name__)

SOURCES = ("obs.radar", "obs.gauge", "rain.area", "warnings")
SOURCES += ("obs.fire", "obs.geo", "fire.counties", "geo.towns")
FEEDS = ("obs.radar", "obs.gauge")
FETCH_GUARD_S = 5.0


class LagExporter:
    """Polls the broker and keeps the lag series of ``groups`` current.

    Parameters
    ----------
    settings : Settings
        Bootstrap servers and topic prefix; ``app_id`` is the default group.
    groups : iterable of str, optional
        Consumer groups to follow.
    metrics : SimpleNamespace, optional
        From :func:`pipeline.metrics.make_lag_metrics` (a fresh one by default).
    sources : iterable of str
        Catalogue topics each group reads, reported even before it commits;
        any other catalogue topic the group has committed is reported too.
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        settings: Settings,
        groups: Iterable[str] | None = None,
        metrics: SimpleNamespace | None = None,
        *,
        sources: Iterable[str] = SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.groups = list(groups or [settings.app_id])
        self.metrics = metrics or make_lag_metrics()
        self.sources = [settings.topic(t) for t in sources]
        self.names = {settings.topic(spec.name): spec.name for spec in ALL}
        self.clock = clock
        self._advanced: dict[tuple[str, str, int], tuple[int | None, float]] = {}
        self._feed_ends: dict[TopicPartition, int] = {}
        self._dead_next: dict[TopicPartition, int] = {}
        self._newest: dict[str, float] = {}
        self._clients: tuple[KafkaAdminClient, KafkaConsumer] | None = None
        self._started = clock()

    def poll(self) -> bool:
        """Ask the broker once; return whether it answered."""
        started = self.clock()
        try:
            self._poll()
            up = True
        except Exception as exc:  # the broker is down or going away: say so
            logger.warning("lag poll of %s failed: %s", self.settings.bootstrap, exc)
            self.close()
            up = False
        self.metrics.broker_up.set(1 if up else 0)
        self.metrics.poll_s.set(self.clock() - started)
        return up

    def close(self) -> None:
        if self._clients is not None:
            for client in self._clients:
                try:
                    client.close()
                except Exception:  # closing a broken client may fail as well
                    logger.debug("closing a Kafka client failed", exc_info=True)
            self._clients = None

    def serve(
        self, port: int, bind: str, interval_s: float, stop: threading.Event
    ) -> None:
        """Poll every ``interval_s`` s and serve the series on ``bind:port``."""
        self.poll()
        start_http_server(port, addr=bind, registry=self.metrics.registry)
        logger.info(
            "lag exporter on http://%s:%d/metrics for groups %s (every %.1f s)",
            bind,
            port,
            ", ".join(self.groups),
            interval_s,
        )
        while not stop.wait(interval_s):
            self.poll()
        self.close()

    def _connect(self) -> tuple[KafkaAdminClient, KafkaConsumer]:
        if self._clients is None:
            bootstrap = self.settings.bootstrap
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ews-lag")
            consumer = KafkaConsumer(
                bootstrap_servers=bootstrap,
                client_id="ews-lag",
                enable_auto_commit=False,
                consumer_timeout_ms=1000,
            )
            self._clients = (admin, consumer)
        return self._clients

    def _poll(self) -> None:
        admin, consumer = self._connect()
        offsets = admin.list_group_offsets(self.groups)
        topics = set(self.sources)
        for committed in offsets.values():
            topics |= {tp.topic for tp in committed if tp.topic in self.names}
        tps = [
            TopicPartition(t, p)
            for t in sorted(topics)
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = consumer.end_offsets(tps) if tps else {}
        m = self.metrics
        for tp, end in ends.items():
            m.end.labels(self.names[tp.topic], str(tp.partition)).set(end)
        for group in self.groups:
            committed = {tp: meta.offset for tp, meta in offsets.get(group, {}).items()}
            for tp, end in ends.items():
                offset = committed.get(tp)
                if offset is not None and offset < 0:
                    offset = None  # nothing committed on this partition
                self._group_partition(group, tp, offset, end)
        self._feeds(consumer, ends)
        self._dead_letters(consumer)

    def _group_partition(
        self, group: str, tp: TopicPartition, offset: int | None, end: int
    ) -> None:
        m, now = self.metrics, self.clock()
        key = (group, tp.topic, tp.partition)
        before = self._advanced.get(key)
        if before is None:
            self._advanced[key] = (offset, self._started)
        elif offset is not None and (before[0] is None or offset > before[0]):
            self._advanced[key] = (offset, now)
        labels = (group, self.names[tp.topic], str(tp.partition))
        m.lag.labels(*labels).set(max(0, end - (offset or 0)))
        if offset is not None:
            m.committed.labels(*labels).set(offset)
        m.unchanged_s.labels(*labels).set(now - self._advanced[key][1])

    def _feeds(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        feeds = {self.settings.topic(t): t for t in FEEDS}
        for tp, end in ends.items():
            if tp.topic not in feeds or end <= 0 or self._feed_ends.get(tp) == end:
                continue
            stamp = self._timestamp_at(consumer, tp, end - 1)
            if stamp is not None:
                self._feed_ends[tp] = end
                name = feeds[tp.topic]
                self._newest[name] = max(self._newest.get(name, 0.0), stamp)
                self.metrics.last_record.labels(name).set(self._newest[name])

    def _timestamp_at(
        self, consumer: KafkaConsumer, tp: TopicPartition, offset: int
    ) -> float | None:
        """The Kafka timestamp (POSIX s) of the record at ``offset``."""
        consumer.assign([tp])
        consumer.seek(tp, offset)
        guard = self.clock() + FETCH_GUARD_S
        while self.clock() < guard:
            for record in consumer.poll(timeout_ms=500, max_records=1).get(tp, []):
                return record.timestamp / 1000.0
        logger.debug("no record at %s[%d] offset %d", tp.topic, tp.partition, offset)
        return None

    def _dead_letters(self, consumer: KafkaConsumer) -> None:
        topic = self.settings.topic("deadletter")
        tps = [
            TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
        ]
        if not tps:
            return
        ends = consumer.end_offsets(tps)
        pending = [tp for tp in tps if self._dead_next.get(tp, 0) < ends[tp]]
        if not pending:
            return
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, self._dead_next.get(tp, 0))
        guard = self.clock() + FETCH_GUARD_S
        while pending and self.clock() < guard:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    self._count_dead(record.value)
                    self._dead_next[tp] = record.offset + 1
            pending = [tp for tp in pending if self._dead_next.get(tp, 0) < ends[tp]]

    def _count_dead(self, value: bytes | None) -> None:
        try:
            letter = json.loads(value or b"")
            source, reason = str(letter["source"]), str(letter["reason_class"])
        except (ValueError, KeyError, TypeError):
            source, reason = "unknown", "unreadable"
        self.metrics.deadletters.labels(source, reason).inc()


def add_lag_exporter(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lag-exporter",
        help="export consumer-group lag and feed freshness from the broker",
    )
    p.add_argument("--settings", help="JSON file of settings (bootstrap, prefix)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port)")
    p.add_argument(
        "--group",
        action="append",
        help="consumer group to follow (repeatable; default the app id)",
    )
    p.add_argument("--port", type=int, default=9109, help="exporter port (9109)")
    p.add_argument("--bind", default="127.0.0.1", help="exporter address")
    p.add_argument(
        "--interval", type=float, default=5.0, help="seconds between polls (5)"
    )
    p.set_defaults(func=cmd_lag_exporter)


def cmd_lag_exporter(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.settings:
        settings = Settings.from_file(args.settings)
    if args.bootstrap:
        settings = replace(settings, bootstrap=args.bootstrap)
    exporter = LagExporter(settings, args.group)
    add_process_collectors(exporter.metrics.registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exporter.serve(args.port, args.bind, args.interval, stop)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Declare ``ews lag-exporter``."""
    add_lag_exporter(sub)
