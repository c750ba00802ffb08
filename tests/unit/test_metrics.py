"""The metrics of pipeline.metrics: names, labels, the worker probe, dissemination.

Every test makes a fresh registry and, where time matters, an injected clock.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from models.lifecycle import WarningState
from models.region import default_region
from pipeline.metrics import (
    Dissemination,
    WorkerProbe,
    make_lag_metrics,
    make_metrics,
)

ALLOWED_LABELS = {
    "hazard",
    "level",
    "action",
    "topic",
    "partition",
    "county",
    "channel",
    "gateway",
    "route",
    "result",
    "state",
    "source",
    "reason_class",
    "msg_type",
    "outcome",
    "group",
}
# process and platform collectors, named by prometheus_client
FOREIGN = ("process_", "python_")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class Clock:
    """A hand-moved clock (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def families(registry: CollectorRegistry):
    return [f for f in registry.collect() if not f.name.startswith(FOREIGN)]


@pytest.mark.parametrize(
    "make", [lambda: make_metrics().registry, lambda: make_lag_metrics().registry]
)
def test_names_follow_the_prometheus_rules(make):
    registry = make()
    found = families(registry)
    assert found
    for family in found:
        assert family.name.startswith("ews_"), family.name
        assert family.documentation, family.name
        if family.type == "counter":
            # prometheus_client strips _total from the family and adds it back
            text = generate_latest(registry).decode()
            assert f"# TYPE {family.name}_total counter" in text
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        for unit in ("_ms", "_milliseconds", "_minutes", "_hours", "_percent"):
            assert unit not in family.name, family.name


def test_labels_are_low_cardinality_and_never_personal():
    m = make_metrics()
    lag = make_lag_metrics()
    m.consumed("obs.gauge", 2)
    m.warnings.labels("flood", "red", "issue").inc()
    for registry in (m.registry, lag.registry):
        for family in families(registry):
            for sample in family.samples:
                assert set(sample.labels) - {"le"} <= ALLOWED_LABELS, sample
    # the probe's county series use county codes, never town codes
    probe = WorkerProbe(m, {}, {"441202001": "441202"})
    probe.warnings([("441202001", {"level": "red"})], [])
    text = generate_latest(m.registry).decode()
    assert "441202001" not in text
    assert 'county="441202"' in text


def test_process_metrics_are_on_the_worker_registry():
    m = make_metrics()
    assert value(m.registry, "process_cpu_seconds_total") is not None
    assert (
        make_metrics(process=False).registry.get_sample_value(
            "process_cpu_seconds_total"
        )
        is None
    )


def test_the_dispatchers_own_metrics_fit_on_the_worker_registry():
    if importlib.util.find_spec("pipeline.dispatch.metrics") is None:
        pytest.skip("the dispatcher is not in this tree")
    from pipeline.dispatch.metrics import make_dispatch_metrics

    m = make_metrics()
    make_dispatch_metrics(m.registry)  # raises on a duplicated name


def test_partition_series_follow_the_assignment():
    clock = Clock()
    m = make_metrics(process=False)
    probe = WorkerProbe(
        m, {"t1.warnings": "warnings", "t1.obs.gauge": "obs.gauge"}, {}, clock=clock
    )
    w0, w1, g3 = TP("t1.warnings", 0), TP("t1.warnings", 1), TP("t1.obs.gauge", 3)
    changelog = TP("ews-t1-rain_state-changelog", 0)
    m.consumed("warnings", 0)

    probe.partitions({w0, w1, g3, changelog}, {w0: 10, w1: None}, {w0: 15, w1: 4})
    labels = {"topic": "warnings", "partition": "0"}
    assert value(m.registry, "ews_partition_committed_offset", **labels) == 10
    assert value(m.registry, "ews_partition_lag_records", **labels) == 5
    # nothing committed yet: the lag counts from the log start
    w1_labels = {"topic": "warnings", "partition": "1"}
    assert value(m.registry, "ews_partition_lag_records", **w1_labels) == 4
    assert value(m.registry, "ews_partition_committed_offset", **w1_labels) is None
    assert "rain_state" not in generate_latest(m.registry).decode()

    clock.now += 30.0
    probe.partitions({w0, w1, g3}, {w0: 10, w1: 2}, {w0: 15, w1: 4})
    assert value(m.registry, "ews_partition_offset_unchanged_seconds", **labels) == 30
    assert value(m.registry, "ews_partition_offset_unchanged_seconds", **w1_labels) == 0
    clock.now += 5.0
    probe.partitions({w0, w1, g3}, {w0: 12, w1: 2}, {w0: 15, w1: 4})
    assert value(m.registry, "ews_partition_offset_unchanged_seconds", **labels) == 0
    assert value(m.registry, "ews_partition_lag_records", **labels) == 3

    # a rebalance takes warnings[0] away: its series go, the others stay
    probe.revoked({w0})
    for name in (
        "ews_partition_committed_offset",
        "ews_partition_lag_records",
        "ews_partition_offset_unchanged_seconds",
        "ews_partition_records_consumed_total",
    ):
        assert value(m.registry, name, **labels) is None, name
    assert value(m.registry, "ews_partition_lag_records", **w1_labels) == 2
    # and a partition missing from the next assignment goes as well
    probe.partitions({w1}, {w1: 2}, {w1: 4})
    gauge3 = {"topic": "obs.gauge", "partition": "3"}
    assert value(m.registry, "ews_partition_offset_unchanged_seconds", **gauge3) is None


def test_warnings_in_force_come_from_the_table_entries():
    region = default_region()
    counties = {t.code: t.county_code for t in region.towns}
    m = make_metrics(process=False)
    m.flood_areas["3011665"] = ["441202001", "441202005", "441203001", "999"]
    probe = WorkerProbe(m, {}, counties)
    state = WarningState(warning_id="w", level="orange", sequence=1).to_dict()
    lifted = WarningState(warning_id="w2", level=None, sequence=3).to_dict()
    rain = [
        ("441202001", state),
        ("441202003", state),
        ("441204001", dict(state, level="yellow")),
        ("441204002", lifted),
        ("441223001", None),
    ]
    flood = [
        ("3011665", {"last_stage": 9.5, "warning": dict(state, level="red")}),
        ("unknown-station", {"warning": dict(state, level="blue")}),
    ]
    probe.warnings(rain, flood)
    reg = m.registry

    def active(hazard: str, level: str) -> float | None:
        return value(reg, "ews_active_warnings", hazard=hazard, level=level)

    assert active("rainstorm", "orange") == 2
    assert active("rainstorm", "yellow") == 1
    assert active("rainstorm", "red") == 0
    assert active("flood", "red") == 1
    assert active("flood", "blue") == 1  # counted, though its towns are unknown
    towns = {"county": "441202", "hazard": "rainstorm", "level": "orange"}
    assert value(reg, "ews_warned_towns", **towns) == 2
    flood_towns = {"county": "441202", "hazard": "flood", "level": "red"}
    assert value(reg, "ews_warned_towns", **flood_towns) == 2
    assert value(reg, "ews_warned_towns", **dict(flood_towns, county="441203")) == 1
    level = "ews_county_warning_level"
    assert value(reg, level, county="441202", hazard="rainstorm") == 3
    assert value(reg, level, county="441204", hazard="rainstorm") == 2
    assert value(reg, level, county="441202", hazard="flood") == 4
    assert value(reg, level, county="441226", hazard="flood") == 0

    # a restart: the same tables give the same figures, with no increments
    again = make_metrics(process=False)
    again.flood_areas.update(m.flood_areas)
    WorkerProbe(again, {}, counties).warnings(rain, flood)
    for hazard in ("rainstorm", "flood"):
        for colour in ("blue", "yellow", "orange", "red"):
            got = value(
                again.registry, "ews_active_warnings", hazard=hazard, level=colour
            )
            assert got == active(hazard, colour)

    # everything lifted: every series drops to zero
    probe.warnings([(c, lifted) for c, _ in rain], [])
    assert active("rainstorm", "orange") == 0
    assert value(reg, "ews_warned_towns", **towns) == 0
    assert value(reg, level, county="441202", hazard="flood") == 0


def test_dissemination_counts_late_alerts_at_the_clock():
    clock = Clock(now=5000.0)
    reg = CollectorRegistry()
    alerts = Dissemination(clock)
    reg.register(alerts)
    alerts.track("A1", hazard="flood", level="red", coverage_ratio=0.5, deadline=4000)
    alerts.track("A2", hazard="flood", level="red", coverage_ratio=0.97, deadline=4000)
    alerts.track(
        "A3",
        hazard="flood",
        level="red",
        coverage_ratio=0.2,
        deadline=datetime.fromtimestamp(6000, UTC),
    )
    labels = {"hazard": "flood", "level": "red"}
    assert value(reg, "ews_alerts_in_dissemination", **labels) == 3
    assert value(reg, "ews_alert_coverage_ratio", **labels) == 0.2
    # A1 is past its deadline below 95 %; A2 is past it but reached; A3 has time
    assert value(reg, "ews_alerts_late", **labels) == 1
    clock.now = 6001.0
    assert value(reg, "ews_alerts_late", **labels) == 2
    alerts.finish("A1")
    alerts.finish("A3")
    assert value(reg, "ews_alerts_in_dissemination", **labels) == 1
    assert value(reg, "ews_alert_coverage_ratio", **labels) == 0.97
    alerts.finish("A2")
    assert value(reg, "ews_alerts_in_dissemination", **labels) is None
    # the identifiers never appear in the exposition
    alerts.track("A9", hazard="flood", level="red", coverage_ratio=0.1, deadline=0)
    assert "A9" not in generate_latest(reg).decode()


def test_the_probe_follows_the_dispatchers_open_alerts():
    clock = Clock(now=datetime(2024, 7, 1, 3, 0, tzinfo=UTC).timestamp())
    m = make_metrics(process=False, clock=clock)
    probe = WorkerProbe(m, {}, {})
    plans = [
        (
            "CAP-1",
            {
                "state": "open",
                "hazard": "rainstorm",
                "level": "orange",
                "deadline": "2024-07-01T02:30:00+00:00",
            },
        ),
        (
            "CAP-2",
            {
                "state": "open",
                "hazard": "rainstorm",
                "level": "orange",
                "deadline": "2024-07-01T04:00:00+00:00",
            },
        ),
        ("CAP-3", {"state": "closed", "hazard": "flood", "level": "red"}),
    ]
    coverage = {"CAP-1": {"coverage": 0.9}, "CAP-2": {"coverage": 0.4}}
    probe.dissemination(plans, coverage)
    labels = {"hazard": "rainstorm", "level": "orange"}
    assert value(m.registry, "ews_alerts_in_dissemination", **labels) == 2
    assert value(m.registry, "ews_alert_coverage_ratio", **labels) == 0.4
    assert value(m.registry, "ews_alerts_late", **labels) == 1
    assert (
        value(m.registry, "ews_alerts_in_dissemination", hazard="flood", level="red")
        is None
    )
    probe.dissemination([], {})
    assert value(m.registry, "ews_alerts_in_dissemination", **labels) is None


def test_delivery_and_verification_setters():
    m = make_metrics(process=False)
    m.delivery.gateway_up("sms", "kannel", False)
    m.delivery.first_delivery("flood", "sms", 42.0)
    m.delivery.target_reached("flood", -1.0)  # a clock step backwards counts as 0
    m.verification("rainstorm", accuracy_ratio=0.83, lead_time_s=1500.0)
    m.flood_issuance(1.0)
    m.radar_frame(360.0)
    reg = m.registry
    assert value(reg, "ews_gateway_up", channel="sms", gateway="kannel") == 0
    first = {"hazard": "flood", "channel": "sms"}
    assert value(reg, "ews_cap_to_first_delivery_seconds_sum", **first) == 42.0
    assert (
        value(reg, "ews_cap_to_first_delivery_seconds_bucket", le="30.0", **first) == 0
    )
    assert (
        value(reg, "ews_cap_to_first_delivery_seconds_bucket", le="60.0", **first) == 1
    )
    assert value(reg, "ews_cap_to_coverage_target_seconds_sum", hazard="flood") == 0
    assert value(reg, "ews_verification_accuracy_ratio", hazard="rainstorm") == 0.83
    assert value(reg, "ews_verification_pod_ratio", hazard="rainstorm") is None
    assert value(reg, "ews_verification_lead_time_seconds", hazard="rainstorm") == 1500
    assert value(reg, "ews_flood_issuance_ratio") == 1.0
    assert value(reg, "ews_radar_frame_step_seconds") == 360.0
