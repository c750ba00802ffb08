"""Prometheus metrics of the dispatcher, on the worker's registry.

Labels stay low in cardinality (channel, route, state, message type,
outcome): never a phone number, a recipient, a loudspeaker or a CAP
identifier.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

TO_TARGET_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


@dataclass(frozen=True)
class DispatchMetrics:
    """Counters of alerts, sends and receipts; time to the coverage target."""

    alerts: Counter
    sends: Counter
    receipts: Counter
    to_target_s: Histogram


def make_dispatch_metrics(registry: CollectorRegistry | None = None) -> DispatchMetrics:
    """The dispatcher's metrics on ``registry`` (a new one by default)."""
    reg = registry or CollectorRegistry()
    return DispatchMetrics(
        alerts=Counter(
            "ews_dispatch_alerts_total",
            "Alerts whose dispatch ended, by message type and outcome",
            ["msg_type", "outcome"],
            registry=reg,
        ),
        sends=Counter(
            "ews_dispatch_sends_total",
            "Orders handed to a gateway or not, by channel, route and result",
            ["channel", "route", "result"],
            registry=reg,
        ),
        receipts=Counter(
            "ews_dispatch_receipts_total",
            "Receipts taken, by channel and state",
            ["channel", "state"],
            registry=reg,
        ),
        to_target_s=Histogram(
            "ews_dispatch_seconds_to_target",
            "Seconds from taking an alert to reaching its coverage target",
            ["msg_type"],
            buckets=TO_TARGET_BUCKETS_S,
            registry=reg,
        ),
    )
