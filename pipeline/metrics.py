"""Prometheus metrics of a worker, of the dispatcher and of the lag exporter.

Every name ews exports is declared here (:data:`WORKER_SERIES`,
:data:`DELIVERY_SERIES`, :data:`LAG_SERIES`, :class:`Dissemination`) but the
dispatcher's counters (:mod:`pipeline.dispatch.metrics`), each bundle on a
registry of its own so tests can make a fresh one. Names follow
Prometheus' rules: base units (seconds, ratios), ``_total`` on counters,
low-cardinality labels; never a phone number, a CAP identifier or a town code.

Some series are counted where things happen (records, decisions, alerts,
dead letters, sends, receipts, latencies); :class:`WorkerProbe` reads others
from the worker's state on a timer (:func:`instrument`): the offsets and lag
of the partitions it owns, from faust's consumer, and the warnings in force,
from the tables, so a restarted worker reports what its tables recovered and
a partition lost in a rebalance loses its series. The dispatcher
(:class:`DeliveryMetrics`) and verification (:meth:`Metrics.verification`)
set theirs through small methods. Latencies run from a record's timestamp on
Kafka to the moment its effect is published, backlog included; ``rain.area``
records carry the timestamp of the radar frame they come from. The lag
exporter (:mod:`pipeline.lag_exporter`) reports progress from the broker's
side (:data:`LAG_SERIES`) and keeps answering when a worker hangs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models.coverage import DEFAULT_TARGET
from models.rules import COLOURS

logger = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
DELIVERY_BUCKETS_S = (5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)
HAZARDS = ("rainstorm", "flood")
LEVEL_RANK = {level: n for n, level in enumerate(COLOURS, start=1)}
HL = ("hazard", "level")
TP = ("topic", "partition")
GTP = ("group", "topic", "partition")

# attribute, kind, name, labels, help (histograms: kind is the bucket tuple)
Series = tuple[str, Any, str, tuple[str, ...], str]

# fmt: off
WORKER_SERIES: tuple[Series, ...] = (
    ("records", Counter, "ews_records_consumed_total", ("topic",),
     "Records consumed by the agents"),
    ("deadletters", Counter, "ews_deadletter_records_total", ("source", "reason_class"),
     "Records an agent sent to the dead-letter topic"),
    ("warnings", Counter, "ews_warnings_total", (*HL, "action"),
     "Warning lifecycle decisions"),
    ("active_warnings", Gauge, "ews_active_warnings", HL,
     "Warnings in force, from the tables"),
    ("cap_alerts", Counter, "ews_cap_alerts_total", ("hazard", "msg_type", "outcome"),
     "CAP alerts built, by outcome"),
    ("obs_to_warning_s", LATENCY_BUCKETS_S, "ews_observation_to_warning_seconds",
     ("hazard",), "From an observation's arrival on Kafka to its warning event"),
    ("warning_to_cap_s", LATENCY_BUCKETS_S, "ews_warning_to_cap_seconds", ("hazard",),
     "From a warning event's arrival on Kafka to its CAP alert"),
    ("partition_records", Counter, "ews_partition_records_consumed_total", TP,
     "Records consumed from an owned partition"),
    ("partition_lag", Gauge, "ews_partition_lag_records", TP,
     "End offset minus committed offset of an owned partition"),
    ("partition_committed", Gauge, "ews_partition_committed_offset", TP,
     "Committed offset of an owned partition"),
    ("partition_unchanged_s", Gauge, "ews_partition_offset_unchanged_seconds", TP,
     "Seconds since the committed offset of an owned partition last advanced"),
    ("rebalances", Counter, "ews_rebalances_total", (),
     "Partition assignments this worker received"),
    ("warned_towns", Gauge, "ews_warned_towns", ("county", *HL),
     "Towns of a county under a warning in force"),
    ("county_level", Gauge, "ews_county_warning_level", ("county", "hazard"),
     "Highest level in force in a county: 0 none, 1 blue, 2 yellow, 3 orange, 4 red"),
    ("radar_step_s", Gauge, "ews_radar_frame_step_seconds", (),
     "Step of the newest radar frame (the radar's cycle)"),
    ("accuracy", Gauge, "ews_verification_accuracy_ratio", ("hazard",),
     "Share of warnings the observations verified"),
    ("pod", Gauge, "ews_verification_pod_ratio", ("hazard",),
     "Probability of detection: share of observed events that were warned"),
    ("lead_time_s", Gauge, "ews_verification_lead_time_seconds", ("hazard",),
     "Mean lead time of the warned events"),
    ("issuance", Gauge, "ews_flood_issuance_ratio", (),
     "Share of flood events at main-river control sections that were warned"),
)

DELIVERY_SERIES: tuple[Series, ...] = (
    ("up", Gauge, "ews_gateway_up", ("channel", "gateway"),
     "1 if the gateway answers, 0 if not"),
    ("first_delivery_s", DELIVERY_BUCKETS_S, "ews_cap_to_first_delivery_seconds",
     ("hazard", "channel"), "From a CAP alert's sent time to its first delivery"),
    ("coverage_target_s", DELIVERY_BUCKETS_S, "ews_cap_to_coverage_target_seconds",
     ("hazard",), "From a CAP alert's sent time to 95 % of its people reached"),
)

LAG_SERIES: tuple[Series, ...] = (
    ("lag", Gauge, "ews_group_lag_records", GTP,
     "End offset minus the group's committed offset"),
    ("committed", Gauge, "ews_group_committed_offset", GTP,
     "The group's committed offset"),
    ("unchanged_s", Gauge, "ews_group_offset_unchanged_seconds", GTP,
     "Seconds since the group's committed offset last advanced"),
    ("end", Gauge, "ews_topic_end_offset", TP, "Log end offset"),
    ("last_record", Gauge, "ews_topic_last_record_timestamp_seconds", ("topic",),
     "Kafka timestamp of the newest record of a feed topic (POSIX seconds)"),
    ("deadletters", Counter, "ews_deadletter_topic_records_total",
     ("source", "reason_class"), "Records on the dead-letter topic"),
    ("broker_up", Gauge, "ews_broker_up", (),
     "1 if the broker answered the last poll, 0 if not"),
    ("poll_s", Gauge, "ews_lag_poll_duration_seconds", (),
     "Duration of the last poll of the broker"),
)
# fmt: on


def build(reg: CollectorRegistry, table: Iterable[Series]) -> dict[str, Any]:
    """Create the series of ``table`` on ``reg``, by attribute name."""
    out: dict[str, Any] = {}
    for attr, kind, name, labels, doc in table:
        if isinstance(kind, tuple):
            out[attr] = Histogram(name, doc, labels, buckets=kind, registry=reg)
        else:
            out[attr] = kind(name, doc, labels, registry=reg)
    return out


def add_process_collectors(reg: CollectorRegistry) -> None:
    """CPU, memory, open files and the Python version, on ``reg``."""
    if reg is not REGISTRY:  # the default registry has them already
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)


class Dissemination(Collector):
    """Alerts in dissemination, exported per hazard and level at each scrape.

    Per hazard and level a scrape shows how many alerts are being
    disseminated (``ews_alerts_in_dissemination``), the lowest coverage
    among them (``ews_alert_coverage_ratio``) and how many have passed their
    deadline below the target of 0.95 (``ews_alerts_late``, at ``clock``).
    In a worker :class:`WorkerProbe` fills it from the dispatcher's tables
    (:meth:`replace`); a dispatcher elsewhere calls :meth:`track` and
    :meth:`finish`.
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, target: float = DEFAULT_TARGET
    ) -> None:
        self._alerts: dict[str, tuple[str, str, float, float]] = {}
        self._lock = threading.Lock()
        self.clock = clock
        self.target = target

    def track(
        self,
        identifier: str,
        *,
        hazard: str,
        level: str,
        coverage_ratio: float,
        deadline: datetime | float,
    ) -> None:
        """Record an alert's coverage (0-1) and deadline (datetime or POSIX s)."""
        when = deadline.timestamp() if isinstance(deadline, datetime) else deadline
        with self._lock:
            self._alerts[identifier] = (hazard, level, float(coverage_ratio), when)

    def finish(self, identifier: str) -> None:
        """Stop following an alert."""
        with self._lock:
            self._alerts.pop(identifier, None)

    def replace(self, alerts: Mapping[str, tuple[str, str, float, float]]) -> None:
        """Follow exactly ``alerts``: identifier to (hazard, level, ratio, deadline)."""
        with self._lock:
            self._alerts = dict(alerts)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            alerts = list(self._alerts.values())
        return iter(self._families(alerts, self.clock()))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families([], 0.0))

    def _families(
        self, alerts: list[tuple[str, str, float, float]], now: float
    ) -> list[GaugeMetricFamily]:
        lowest, count, late = (
            GaugeMetricFamily(name, doc, labels=HL)
            for name, doc in (
                ("ews_alert_coverage_ratio", "Lowest coverage of the alerts going out"),
                ("ews_alerts_in_dissemination", "Alerts being disseminated"),
                ("ews_alerts_late", "Alerts past their deadline below the target"),
            )
        )
        groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for hazard, level, ratio, deadline in alerts:
            groups.setdefault((hazard, level), []).append((ratio, deadline))
        for key, members in sorted(groups.items()):
            lowest.add_metric(list(key), min(r for r, _ in members))
            count.add_metric(list(key), len(members))
            missed = [r for r, d in members if now > d and r < self.target]
            late.add_metric(list(key), len(missed))
        return [lowest, count, late]


class DeliveryMetrics(SimpleNamespace):
    """Gateway health and delivery times, for the dispatcher to set.

    ``channel`` is ``sms`` or ``loudspeaker``; ``gateway`` the gateway's
    short name (``kannel``, ``smpp``, ``mqtt``, ``dryrun``). ``alerts`` is
    the :class:`Dissemination` collector. Sends, receipts and dispatch
    outcomes are the dispatcher's own counters (:mod:`pipeline.dispatch`).
    """

    def gateway_up(self, channel: str, gateway: str, up: bool) -> None:
        """Whether a gateway answers."""
        self.up.labels(channel, gateway).set(1 if up else 0)

    def first_delivery(self, hazard: str, channel: str, seconds: float) -> None:
        """Seconds from a CAP alert's ``sent`` to its first delivery on ``channel``."""
        self.first_delivery_s.labels(hazard, channel).observe(max(0.0, seconds))

    def target_reached(self, hazard: str, seconds: float) -> None:
        """Seconds from a CAP alert's ``sent`` to 95 % of its people reached."""
        self.coverage_target_s.labels(hazard).observe(max(0.0, seconds))


def make_delivery_metrics(
    reg: CollectorRegistry, clock: Callable[[], float] = time.time
) -> DeliveryMetrics:
    """Gateway health, delivery times and the alerts going out, on ``reg``."""
    alerts = Dissemination(clock)
    reg.register(alerts)
    return DeliveryMetrics(**build(reg, DELIVERY_SERIES), alerts=alerts)


class Metrics(SimpleNamespace):
    """The metrics a worker exports: one attribute per row of :data:`WORKER_SERIES`.

    Also ``registry``, ``delivery`` (:class:`DeliveryMetrics`) and
    ``flood_areas`` (station id to the town codes its warnings cover, learnt
    from the gauge records, for the county series).
    """

    def consumed(self, topic: str, partition: int) -> None:
        """One record of ``topic`` (catalogue name) taken by an agent."""
        self.records.labels(topic).inc()
        self.partition_records.labels(topic, str(partition)).inc()

    def radar_frame(self, step_s: float) -> None:
        """A radar frame of ``step_s`` seconds arrived."""
        self.radar_step_s.set(step_s)

    def verification(
        self,
        hazard: str,
        *,
        accuracy_ratio: float | None = None,
        pod_ratio: float | None = None,
        lead_time_s: float | None = None,
    ) -> None:
        """Publish verification scores of ``hazard`` (ratios 0-1, seconds)."""
        for gauge, value in (
            (self.accuracy, accuracy_ratio),
            (self.pod, pod_ratio),
            (self.lead_time_s, lead_time_s),
        ):
            if value is not None:
                gauge.labels(hazard).set(value)

    def flood_issuance(self, ratio: float) -> None:
        """Share (0-1) of flood events at control sections that had a warning."""
        self.issuance.set(ratio)


def make_metrics(
    registry: CollectorRegistry | None = None,
    *,
    process: bool = True,
    clock: Callable[[], float] = time.time,
) -> Metrics:
    """Create the worker's metric bundle on ``registry`` (a new one by default).

    ``process`` adds the process and platform collectors; ``clock`` (POSIX
    seconds) is what :class:`Dissemination` compares deadlines with.
    """
    reg = registry or CollectorRegistry()
    if process:
        add_process_collectors(reg)
    return Metrics(
        registry=reg,
        delivery=make_delivery_metrics(reg, clock),
        flood_areas={},
        **build(reg, WORKER_SERIES),
    )


def make_lag_metrics(registry: CollectorRegistry | None = None) -> SimpleNamespace:
    """The lag exporter's series (:data:`LAG_SERIES`) on ``registry``."""
    reg = registry or CollectorRegistry()
    return SimpleNamespace(registry=reg, **build(reg, LAG_SERIES))


class WorkerProbe:
    """Refreshes the series a worker reads from its state.

    Parameters
    ----------
    metrics : Metrics
        The worker's bundle.
    sources : mapping
        Real name of each topic an agent reads to its catalogue name.
    counties : mapping
        Town code to county code.
    clock : callable
        Monotonic seconds, for the age of a committed offset.
    """

    def __init__(
        self,
        metrics: Metrics,
        sources: Mapping[str, str],
        counties: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.sources = dict(sources)
        self.counties = dict(counties)
        self.clock = clock
        self._seen: dict[tuple[str, int], tuple[int | None, float]] = {}

    def partitions(
        self,
        assigned: Iterable[Any],
        committed: Mapping[Any, int | None],
        ends: Mapping[Any, int | None],
    ) -> None:
        """Set the series of the partitions (``TP``) the worker owns now.

        ``committed`` and ``ends`` give the committed and the end offset of
        each; a partition missing from ``assigned`` loses its series.
        """
        m, now = self.metrics, self.clock()
        owned = set()
        for tp in assigned:
            topic = self.sources.get(tp.topic)
            if topic is None:
                continue  # a changelog, or a topic no agent reads
            key = (topic, tp.partition)
            owned.add(key)
            offset, end = committed.get(tp), ends.get(tp)
            before = self._seen.get(key)
            if before is None or (offset is not None and offset > (before[0] or -1)):
                self._seen[key] = (offset, now)
            labels = (topic, str(tp.partition))
            if offset is not None:
                m.partition_committed.labels(*labels).set(offset)
            if end is not None:
                m.partition_lag.labels(*labels).set(max(0, end - (offset or 0)))
            m.partition_unchanged_s.labels(*labels).set(now - self._seen[key][1])
        for key in set(self._seen) - owned:
            self.drop(*key)

    def revoked(self, revoked: Iterable[Any]) -> None:
        """Remove the series of partitions taken away in a rebalance."""
        for tp in revoked:
            if tp.topic in self.sources:
                self.drop(self.sources[tp.topic], tp.partition)

    def drop(self, topic: str, partition: int) -> None:
        m = self.metrics
        self._seen.pop((topic, partition), None)
        for metric in (m.partition_records, m.partition_lag, m.partition_committed):
            with contextlib.suppress(KeyError):  # not every series is set yet
                metric.remove(topic, str(partition))
        with contextlib.suppress(KeyError):
            m.partition_unchanged_s.remove(topic, str(partition))

    def warnings(
        self,
        rain: Iterable[tuple[str, dict | None]],
        flood: Iterable[tuple[str, dict | None]],
    ) -> None:
        """Set the warnings in force from table entries.

        ``rain`` holds (town code, warning state) of the ``rain_state``
        table, ``flood`` (station id, entry) of ``gauge_state``, whose
        warning state is under ``"warning"``.
        """
        in_force = [("rainstorm", [code], (st or {}).get("level")) for code, st in rain]
        for sid, entry in flood:
            # XXX: the table does not hold a station's towns; after a restart
            # they are known again from the station's next gauge record.
            codes = self.metrics.flood_areas.get(sid, [])
            in_force.append(
                ("flood", codes, ((entry or {}).get("warning") or {}).get("level"))
            )
        active: Tally = Tally()
        towns: Tally = Tally()
        worst: dict[tuple[str, str], int] = {}
        for hazard, codes, level in in_force:
            if level not in LEVEL_RANK:
                continue
            active[hazard, level] += 1
            for county in (self.counties[c] for c in codes if c in self.counties):
                towns[county, hazard, level] += 1
                rank = max(worst.get((county, hazard), 0), LEVEL_RANK[level])
                worst[county, hazard] = rank
        m, counties = self.metrics, sorted(set(self.counties.values()))
        for hazard in HAZARDS:
            for level in COLOURS:
                m.active_warnings.labels(hazard, level).set(active[hazard, level])
                for county in counties:
                    n = towns[county, hazard, level]
                    m.warned_towns.labels(county, hazard, level).set(n)
            for county in counties:
                m.county_level.labels(county, hazard).set(
                    worst.get((county, hazard), 0)
                )

    def dissemination(
        self, plans: Iterable[tuple[str, dict | None]], coverage: Mapping[str, Any]
    ) -> None:
        """Follow the open alerts of the ``dispatch_alerts`` table.

        Each plan names hazard, level and deadline; ``coverage`` is the
        ``dispatch_coverage`` table (identifier to snapshot with ``coverage``).
        """
        going_out = {}
        for identifier, plan in plans:
            if not plan or plan.get("state") != "open":
                continue
            ratio = float((coverage.get(identifier) or {}).get("coverage") or 0.0)
            deadline = datetime.fromisoformat(plan["deadline"]).timestamp()
            labels = (plan.get("hazard") or "unknown", plan.get("level") or "none")
            going_out[identifier] = (*labels, ratio, deadline)
        self.metrics.delivery.alerts.replace(going_out)


def instrument(
    app: Any, probe: WorkerProbe, tables: Mapping[str, Any], interval_s: float = 1.0
) -> None:
    """Refresh ``probe`` every ``interval_s`` seconds and on every rebalance."""

    @app.timer(interval_s)
    async def refresh_metrics() -> None:
        try:
            consumer = app.consumer
            assigned = consumer.assignment()
            # XXX: faust 0.15.3 keeps the offsets it read from the broker at a
            # seek only in a private mapping; the monitor sees later commits.
            committed = dict(getattr(consumer, "_committed_offset", {}))
            committed.update(app.monitor.tp_committed_offsets)
            ends = {
                tp: consumer.highwater(tp)
                for tp in assigned
                if tp.topic in probe.sources
            }
            probe.partitions(assigned, committed, ends)
            probe.warnings(
                list(tables["rain_state"].items()), list(tables["gauge_state"].items())
            )
            if "dispatch_alerts" in tables:
                probe.dissemination(
                    list(tables["dispatch_alerts"].items()),
                    dict(tables["dispatch_coverage"].items()),
                )
        except Exception:  # metrics must never stop a worker
            logger.warning("refreshing the worker metrics failed", exc_info=True)

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, revoked: set, **kwargs: Any) -> None:
        probe.revoked(revoked)

    @app.on_partitions_assigned.connect
    async def count_assignment(sender: Any, assigned: set, **kwargs: Any) -> None:
        probe.metrics.rebalances.inc()
