"""Prometheus metrics of a worker.

One :class:`Metrics` bundle per worker, on its own registry so tests can
make a fresh one. Names follow Prometheus' rules: base units, ``_total`` on
counters, low-cardinality labels (hazard, level, action, topic, source,
reason class); never a phone number, a CAP identifier or a town code.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class Metrics:
    """The metrics a worker exports."""

    registry: CollectorRegistry
    records: Counter
    deadletters: Counter
    warnings: Counter
    active_warnings: Gauge
    cap_alerts: Counter
    obs_to_warning_s: Histogram
    warning_to_cap_s: Histogram


def make_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Create the metric bundle on ``registry`` (a new one by default)."""
    reg = registry or CollectorRegistry()
    return Metrics(
        registry=reg,
        records=Counter(
            "ews_records_consumed_total",
            "Records consumed by the agents",
            ["topic"],
            registry=reg,
        ),
        deadletters=Counter(
            "ews_deadletter_records_total",
            "Records sent to the dead-letter topic",
            ["source", "reason_class"],
            registry=reg,
        ),
        warnings=Counter(
            "ews_warnings_total",
            "Warning lifecycle decisions",
            ["hazard", "level", "action"],
            registry=reg,
        ),
        active_warnings=Gauge(
            "ews_active_warnings",
            "Warnings in force",
            ["hazard", "level"],
            registry=reg,
        ),
        cap_alerts=Counter(
            "ews_cap_alerts_total",
            "CAP alerts built, by outcome",
            ["hazard", "msg_type", "outcome"],
            registry=reg,
        ),
        obs_to_warning_s=Histogram(
            "ews_observation_to_warning_seconds",
            "Wall time from consuming an observation to publishing its warning",
            ["hazard"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        ),
        warning_to_cap_s=Histogram(
            "ews_warning_to_cap_seconds",
            "Wall time from consuming a warning event to publishing its CAP alert",
            ["hazard"],
            buckets=LATENCY_BUCKETS_S,
            registry=reg,
        ),
    )
