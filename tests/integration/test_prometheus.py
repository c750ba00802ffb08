"""A real Prometheus scraping a worker and the lag exporter through a replay.

Debian's ``prometheus`` runs on loopback (free port, temporary storage, 1 s
scrape and evaluation) with the shipped alert rules, rendered with short
``for:`` durations. A worker with its exporter and ``ews lag-exporter`` run
as child processes against the session's broker while part of the demo
scenario is replayed. The tests then ask Prometheus's HTTP API for the
series and compare them with what the run's topics hold; stop the worker
with SIGSTOP (its own exporter stops answering with it, the lag exporter
does not) and wait for the stalled-consumer alert; restart the worker and
check the warnings in force come back from its tables.

The tests share one run and go in the order they are written.
``HANG_GUARD_S`` bounds every wait: it turns a series that never comes into
a failure instead of a run that never ends, and measures nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.scenario import load_scenario
from pipeline.app import TABLES
from pipeline.demo import DEFAULT_SCENARIO, OUTPUTS, SOURCES, run_settings
from pipeline.lag import end_offsets, wait_caught_up
from pipeline.replay import replay
from pipeline.settings import Settings
from pipeline.status import in_force, latest_by_key
from pipeline.summary import collect, read_topic
from pipeline.worker import WorkerProcess, prepare
from tests.integration.conftest import free_ports, stop_process, wait_for_port

pytestmark = pytest.mark.integration

HANG_GUARD_S = 300.0
RULES = Path(__file__).resolve().parents[2] / "docker" / "prometheus" / "ews.rules.yml"
SHORT_FOR = {"EwsConsumerStalled": "5s", "EwsWorkerDown": "3s"}
HAS_DISPATCHER = "dispatch_alerts" in TABLES  # the worker can run the dispatcher
FIRST, STOPPED = slice(0, 40), slice(40, 70)  # radar frames: mid-storm, then later


def render_rules(path: Path, durations: dict[str, str]) -> None:
    """The shipped rules with the ``for:`` of some alerts replaced."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in durations:
                rule["for"] = durations[rule["alert"]]
    path.write_text(yaml.safe_dump(rules, sort_keys=False))


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    port: int
    proc: subprocess.Popen[bytes]

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query: labels (sorted pairs, no __name__) to value."""
        out = {}
        for r in self.api("query", query=expr)["result"]:
            labels = tuple(
                sorted((k, v) for k, v in r["metric"].items() if k != "__name__")
            )
            out[labels] = float(r["value"][1])
        return out

    def firing(self, alertname: str) -> list[dict[str, str]]:
        return [
            a["labels"]
            for a in self.api("alerts")["alerts"]
            if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]

    def wait(self, what: str, check: Callable[[], Any]) -> Any:
        """Poll ``check`` until it returns something true; return that."""
        deadline = time.monotonic() + HANG_GUARD_S
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(0.5)
        raise AssertionError(f"gave up waiting for {what}; last: {last!r}")


@dataclass
class Rig:
    settings: Settings
    home: Path
    scenario: Any
    records: list[Any]
    prometheus: Prometheus
    worker: WorkerProcess
    lag_port: int
    worker_port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def settle(self) -> None:
        wait_caught_up(
            self.settings.bootstrap,
            self.settings.app_id,
            [self.settings.topic(t) for t in SOURCES],
            [self.settings.topic(t) for t in OUTPUTS],
            # faust 0.15 may leave a partition unfetched after a start
            on_stall=lambda _: self.worker.restart(),
        )
        if HAS_DISPATCHER:
            from pipeline.dispatch.report import wait_dispatch_over

            wait_dispatch_over(self.settings)

    def worker_started_at(self) -> set[float]:
        """Start times of the worker processes Prometheus scrapes now."""
        started = self.prometheus.query('process_start_time_seconds{job="ews-worker"}')
        return set(started.values())


def by(rows: dict, *names: str) -> dict[tuple[str, ...], float]:
    return {tuple(dict(k)[n] for n in names): v for k, v in rows.items()}


@pytest.fixture(scope="module")
def rig(kafka_bootstrap: str, tmp_path_factory) -> Iterator[Rig]:
    home = tmp_path_factory.mktemp("prometheus")
    scenario = load_scenario(DEFAULT_SCENARIO)
    worker_port, lag_port, prom_port = free_ports(3)
    base = Settings(bootstrap=kafka_bootstrap, metrics_port=worker_port)
    settings = run_settings(base, scenario, f"p{uuid.uuid4().hex[:8]}", home)
    if HAS_DISPATCHER:  # in the worker, as deployed (the demo dispatches later)
        settings = replace(settings, dispatch_enabled=True)
    prepare(settings)

    render_rules(home / "rules.yml", SHORT_FOR)
    config = {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
        },
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {
                "job_name": "ews-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
            },
            {
                "job_name": "ews-lag-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{lag_port}"]}],
            },
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    procs: list[subprocess.Popen[bytes]] = []
    worker = WorkerProcess(settings, home)
    rig: Rig | None = None
    try:
        with (home / "prometheus.log").open("wb") as log:
            prom = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={home / 'prometheus.yml'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    f"--storage.tsdb.path={home / 'tsdb'}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(prom)
        wait_for_port(prom_port, prom, home / "prometheus.log")

        worker.start()
        worker.wait_ready()
        with (home / "lag-exporter.log").open("wb") as log:
            exporter = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "lag-exporter"]
                + ["--settings", str(worker.settings_path), "--port", str(lag_port)]
                + ["--interval", "1"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(exporter)
        wait_for_port(lag_port, exporter, home / "lag-exporter.log")

        records = list(scenario.records())
        rig = Rig(
            settings,
            home,
            scenario,
            records,
            Prometheus(prom_port, prom),
            worker,
            lag_port,
            worker_port,
            procs,
        )
        # frame 40 of 144, 06:40 UTC: mid-storm, many town warnings in force
        replay(
            scenario, settings, records=records[FIRST], rejections=False, progress=False
        )
        rig.settle()
        yield rig
    finally:
        for w in {id(w): w for w in (worker, rig.worker if rig else worker)}.values():
            if w.proc is not None and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.stop()
        for proc in reversed(procs):
            stop_process(proc)


def test_warning_series_match_the_warnings_topic(rig: Rig):
    summary = collect(rig.settings)
    decisions = Counter(
        (w["hazard"], w["level"] or "none", w["action"]) for w in summary.warnings
    )
    records = read_topic(rig.settings.bootstrap, rig.settings.topic("warnings"))
    in_force_now = Counter((ev["hazard"], ev["level"]) for ev in in_force(records))
    assert decisions and in_force_now, "the storm is under way at frame 40"

    expr = "sum by (hazard, level, action) (ews_warnings_total)"
    got = rig.prometheus.wait(
        "the decisions of the replay",
        lambda: (
            rows
            if by(rows := rig.prometheus.query(expr), "hazard", "level", "action")
            == dict(decisions)
            else None
        ),
    )
    assert sum(got.values()) == len(summary.warnings)

    active = by(
        rig.prometheus.query("sum by (hazard, level) (ews_active_warnings)"),
        "hazard",
        "level",
    )
    for hazard in ("rainstorm", "flood"):
        for level in ("blue", "yellow", "orange", "red"):
            assert active[hazard, level] == in_force_now.get((hazard, level), 0)
    # the map's series add up: one rainstorm warning is one town
    towns = rig.prometheus.query('sum(ews_warned_towns{hazard="rainstorm"})')
    assert list(towns.values()) == [
        sum(active[("rainstorm", c)] for c in ("blue", "yellow", "orange", "red"))
    ]


def test_lag_series_match_the_broker(rig: Rig):
    s = rig.settings
    group = {"group": s.app_id}
    ends = end_offsets(s.bootstrap, [s.topic(t) for t in SOURCES[:4]])
    sent = Counter(r.topic for r in rig.records[FIRST])
    assert ends[s.topic("obs.radar")] == sent["obs.radar"]

    fed = [t for t in SOURCES[:4] if ends[s.topic(t)] > 0]  # obs.gauge is empty
    assert "obs.radar" in fed and "rain.area" in fed

    def committed() -> dict[str, float] | None:
        rows = by(
            rig.prometheus.query(
                f'sum by (topic) (ews_group_committed_offset{{group="{s.app_id}"}})'
            ),
            "topic",
        )
        want = {(t,): float(ends[s.topic(t)]) for t in fed}
        return rows if all(rows.get(k) == v for k, v in want.items()) else None

    rig.prometheus.wait("committed offsets at the topic ends", committed)
    lag = rig.prometheus.query(f'ews_group_lag_records{{group="{group["group"]}"}}')
    assert lag and set(lag.values()) == {0.0}
    ends_seen = by(
        rig.prometheus.query("sum by (topic) (ews_topic_end_offset)"), "topic"
    )
    assert ends_seen[("rain.area",)] == ends[s.topic("rain.area")]
    # the worker sees the same offsets on the partitions it owns
    own = by(
        rig.prometheus.query("sum by (topic) (ews_partition_committed_offset)"),
        "topic",
    )
    for topic in fed:
        assert own[(topic,)] == ends[s.topic(topic)], topic
    assert set(rig.prometheus.query("ews_partition_lag_records").values()) == {0.0}
    stamp = rig.prometheus.query(
        'ews_topic_last_record_timestamp_seconds{topic="obs.radar"}'
    )
    (radar_ts,) = stamp.values()
    newest = read_topic(s.bootstrap, s.topic("obs.radar"))[-1]
    assert radar_ts == newest.timestamp / 1000.0  # the replay's producer time
    assert list(rig.prometheus.query("ews_broker_up").values()) == [1.0]
    assert rig.prometheus.firing("EwsConsumerStalled") == []


@pytest.mark.skipif(not HAS_DISPATCHER, reason="the dispatcher is not in this tree")
def test_coverage_series_follow_the_dispatcher(rig: Rig):
    s = rig.settings
    snaps = latest_by_key(
        read_topic(s.bootstrap, f"{s.app_id}-dispatch_coverage-changelog")
    )
    outcomes = Counter(snap["outcome"] for snap in snaps.values())
    assert snaps and all(snap["state"] == "closed" for snap in snaps.values())

    def counted() -> dict | None:
        rows = by(
            rig.prometheus.query("sum by (outcome) (ews_dispatch_alerts_total)"),
            "outcome",
        )
        return rows if rows == {(k,): float(v) for k, v in outcomes.items()} else None

    rig.prometheus.wait("every closed dissemination counted", counted)
    # while alerts went out their coverage was exported, between 0 and 1
    window = "[30m]"
    going = rig.prometheus.query(f"max_over_time(ews_alerts_in_dissemination{window})")
    assert going and max(going.values()) >= 1
    lowest = rig.prometheus.query(f"min_over_time(ews_alert_coverage_ratio{window})")
    highest = rig.prometheus.query(f"max_over_time(ews_alert_coverage_ratio{window})")
    assert lowest and min(lowest.values()) >= 0.0 and max(highest.values()) <= 1.0
    # and now that every dispatch is over none is left
    assert rig.prometheus.query("sum(ews_alerts_in_dissemination)") == {}


def test_warnings_in_force_survive_a_restart(rig: Rig):
    prom, s = rig.prometheus, rig.settings
    records = read_topic(s.bootstrap, s.topic("warnings"))
    want = Counter((ev["hazard"], ev["level"]) for ev in in_force(records))
    before = rig.worker_started_at()
    assert len(before) == 1
    rig.worker.stop()
    rig.worker = WorkerProcess(s, rig.home, name="worker-restarted")
    rig.worker.start()
    rig.worker.wait_ready()
    prom.wait(
        "the restarted worker's scrape",
        lambda: (now := rig.worker_started_at()) and now != before,
    )

    def recovered() -> dict | None:
        rows = by(
            prom.query("sum by (hazard, level) (ews_active_warnings)"),
            "hazard",
            "level",
        )
        return rows if rows and all(rows[k] == want.get(k, 0) for k in rows) else None

    rows = prom.wait("the warnings in force after the restart", recovered)
    assert sum(rows.values()) == sum(want.values()) > 0
    # nothing new was decided: the figures come from the tables
    assert sum(prom.query("sum(ews_warnings_total)").values()) == 0


def test_a_stopped_worker_fires_the_stall_alert(rig: Rig):
    prom, s = rig.prometheus, rig.settings
    assert prom.firing("EwsConsumerStalled") == []
    assert rig.worker.proc is not None
    rig.worker.proc.send_signal(signal.SIGSTOP)
    try:
        replay(
            rig.scenario,
            s,
            records=rig.records[STOPPED],
            rejections=False,
            progress=False,
        )
        stalled = prom.wait(
            "the stalled-consumer alert", lambda: prom.firing("EwsConsumerStalled")
        )
        assert {a["group"] for a in stalled} == {s.app_id}
        assert {a["topic"] for a in stalled} <= {"obs.radar", "obs.gauge"}
        down = prom.wait("the worker-down alert", lambda: prom.firing("EwsWorkerDown"))
        assert down[0]["instance"] == f"127.0.0.1:{rig.worker_port}"
    finally:
        rig.worker.proc.send_signal(signal.SIGCONT)
    rig.settle()
    prom.wait("the stall to clear", lambda: prom.firing("EwsConsumerStalled") == [])


def test_partition_series_move_with_a_rebalance(rig: Rig):
    s = rig.settings
    (second_port,) = free_ports(1)
    other = WorkerProcess(replace(s, metrics_port=second_port), rig.home, name="second")

    def owned(port: int) -> set[tuple[str, str]]:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        out = set()
        for line in text.splitlines():
            if line.startswith("ews_partition_committed_offset{"):
                labels = dict(
                    kv.split("=", 1)
                    for kv in line[line.index("{") + 1 : line.index("}")].split(",")
                )
                out.add((labels["topic"].strip('"'), labels["partition"].strip('"')))
        return out

    everything = {(t, str(p)) for t in ("rain.area", "warnings") for p in range(4)}
    assert everything <= owned(rig.worker_port)
    other.start()
    try:
        other.wait_ready()

        def split() -> tuple[set, set] | None:
            a, b = owned(rig.worker_port), owned(second_port)
            shared = {tp for tp in a & b if tp[0] in ("rain.area", "warnings")}
            covered = everything <= a | b
            return (a, b) if covered and not shared and a & everything else None

        a, b = rig.prometheus.wait("the two workers sharing the partitions", split)
        assert len(a & everything) < len(everything)
        assert b & everything
    finally:
        other.stop()
