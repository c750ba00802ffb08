"""``ews status``: the live state of a pipeline, for an operator at a terminal.

Read from the broker: the warnings in force (the newest event of each
warning on the ``warnings`` topic), the alerts in dissemination with their
coverage (the newest snapshot of each alert in the dispatcher's
``dispatch_coverage`` changelog), the lag of each agent's consumer group and
the dead letters by source and reason class. Read from the metrics, when
``--metrics`` names worker exporters or ``--prometheus`` a Prometheus: the
gateways' health and the dissemination gauges per hazard and level. rich
prints colour in a terminal and plain text when the output is piped.
"""

from __future__ import annotations

import argparse
import json
import logging
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from models.coverage import DEFAULT_TARGET
from pipeline.broker import answers_metadata
from pipeline.lag import PartitionLag, group_lag
from pipeline.settings import Settings
from pipeline.summary import CST, LEVEL_STYLE, read_topic
from pipeline.topics import ALL
from schemas.errors import BrokerError

logger = logging.getLogger(__name__)

AGENTS = {
    "obs.radar": "radar",
    "obs.gauge": "flood",
    "rain.area": "rainstorm",
    "warnings": "CAP",
    "alerts.cap": "dispatch",
    "receipts": "dispatch receipts",
}
CORE = ("obs.radar", "obs.gauge", "rain.area", "warnings")
METRIC_NAMES = (
    "ews_gateway_up",
    "ews_alerts_in_dissemination",
    "ews_alert_coverage_ratio",
    "ews_alerts_late",
)

Sample = tuple[str, dict[str, str], float]


@dataclass
class Status:
    """What ``ews status`` shows."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    closed: Counter = field(default_factory=Counter)
    lag: list[PartitionLag] = field(default_factory=list)
    deadletters: Counter = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def in_force(records: list[Any]) -> list[dict[str, Any]]:
    """The newest event of each warning whose level is not lifted."""
    newest: dict[str, dict[str, Any]] = {}
    for rec in records:
        ev = json.loads(rec.value)
        kept = newest.get(ev["warning_id"])
        if kept is None or ev["sequence"] > kept["sequence"]:
            newest[ev["warning_id"]] = ev
    return [ev for ev in newest.values() if ev["level"] is not None]


def latest_by_key(records: list[Any]) -> dict[str, dict[str, Any]]:
    """A compacted topic's view: the newest value per key, tombstones removed."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        key = json.loads(rec.key) if rec.key else None
        if not isinstance(key, str):
            continue
        if rec.value is None:
            out.pop(key, None)
        else:
            out[key] = json.loads(rec.value)
    return out


def scrape(url: str, timeout_s: float = 5.0) -> list[Sample]:
    """The samples of :data:`METRIC_NAMES` an exporter's ``/metrics`` shows."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        if family.name in METRIC_NAMES
        for s in family.samples
    ]


def query_prometheus(url: str, timeout_s: float = 5.0) -> list[Sample]:
    """The same samples from a Prometheus server (its instant query API)."""
    expr = "{__name__=~'" + "|".join(METRIC_NAMES) + "'}"
    full = f"{url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(full, timeout=timeout_s) as response:
        body = json.loads(response.read())
    return [
        (r["metric"].pop("__name__"), r["metric"], float(r["value"][1]))
        for r in body["data"]["result"]
    ]


def gather(
    settings: Settings, metrics: list[str] = (), prometheus: str | None = None
) -> Status:
    """Read the live state from the broker and the metrics."""
    try:
        answers_metadata(settings.bootstrap, timeout_s=5.0)
    except Exception as exc:
        raise BrokerError(
            f"no Kafka broker answers at {settings.bootstrap}: {exc}"
        ) from exc
    status = Status()
    bootstrap = settings.bootstrap
    status.warnings = in_force(read_topic(bootstrap, settings.topic("warnings")))
    changelog = f"{settings.app_id}-dispatch_coverage-changelog"
    for snap in latest_by_key(read_topic(bootstrap, changelog)).values():
        if snap.get("state") == "open":
            status.alerts.append(snap)
        else:
            status.closed[snap.get("outcome") or "closed"] += 1
    names = {settings.topic(spec.name): spec.name for spec in ALL}
    status.lag = [
        replace(p, topic=names[p.topic])
        for p in group_lag(
            bootstrap, settings.app_id, [settings.topic(t) for t in AGENTS]
        )
    ]
    for rec in read_topic(bootstrap, settings.topic("deadletter")):
        letter = json.loads(rec.value)
        status.deadletters[letter.get("source"), letter.get("reason_class")] += 1
    sources = [(scrape, url) for url in metrics]
    sources += [(query_prometheus, prometheus)] if prometheus else []
    for read, url in sources:
        try:
            status.samples += read(url)
        except OSError as exc:
            logger.warning("metrics at %s do not answer: %s", url, exc)
            status.unreachable.append(url)
    return status


def _local(text: str) -> str:
    """A UTC ISO time as China Standard Time, to the minute."""
    return datetime.fromisoformat(text).astimezone(CST).strftime("%m-%d %H:%M")


def _level(level: str | None) -> str:
    style = LEVEL_STYLE.get(level or "", "dim")
    return f"[{style}]{level or 'lifted'}[/]"


def render(status: Status, console: Console) -> None:
    """Print the state as tables."""
    table = Table(title=f"Warnings in force: {len(status.warnings)} (times UTC+8)")
    for col in ("hazard", "area", "level", "since", "valid to", "last"):
        table.add_column(col)
    rank = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
    for ev in sorted(status.warnings, key=lambda e: (e["hazard"], rank[e["level"]])):
        names = ev["area"]["names"]
        area = names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
        table.add_row(
            ev["hazard"],
            area,
            _level(ev["level"]),
            _local(ev["valid_from"]),
            _local(ev["valid_to"]),
            ev["action"],
        )
    console.print(table)

    closed = ", ".join(f"{k} {n}" for k, n in sorted(status.closed.items()))
    table = Table(title=f"Alerts in dissemination (closed: {closed or 'none'})")
    for col in ("alert", "hazard", "level", "type", "coverage", "reached", "wave"):
        table.add_column(col)
    for snap in sorted(status.alerts, key=lambda s: s.get("coverage") or 0.0):
        ratio = float(snap.get("coverage") or 0.0)
        style = "green" if ratio >= snap.get("target", DEFAULT_TARGET) else "red"
        reached = snap.get("reached", {}).get("any", 0.0)
        table.add_row(
            str(snap.get("identifier")),
            str(snap.get("hazard")),
            _level(snap.get("level")),
            str(snap.get("msgType")),
            f"[{style}]{100.0 * ratio:.1f} %[/]",
            f"{reached:,.0f} of {snap.get('population', 0):,}",
            str(snap.get("wave")),
        )
    console.print(table)

    table = Table(title="Lag per agent (consumer group, records)")
    for col in ("agent", "topic", "partitions", "committed", "end", "lag"):
        table.add_column(col)
    for topic, agent in AGENTS.items():
        parts = [p for p in status.lag if p.topic == topic]
        if not parts or (topic not in CORE and all(p.committed is None for p in parts)):
            continue  # a topic this group does not read
        lag = sum(p.lag for p in parts)
        committed = sum(p.committed or 0 for p in parts)
        end = sum(p.end for p in parts)
        style = "green" if lag == 0 else "yellow" if lag < 1000 else "red"
        cells = (str(len(parts)), str(committed), str(end), f"[{style}]{lag}[/]")
        table.add_row(agent, topic, *cells)
    console.print(table)

    total = sum(status.deadletters.values())
    table = Table(title=f"Dead letters: {total}")
    for col in ("source", "reason class", "count"):
        table.add_column(col)
    for (source, reason), n in sorted(status.deadletters.items()):
        table.add_row(str(source), str(reason), f"[red]{n}[/]")
    console.print(table)
    _render_metrics(status, console)


def _render_metrics(status: Status, console: Console) -> None:
    for url in status.unreachable:
        console.print(f"[red]metrics at {url} do not answer[/]")
    gateways = [s for s in status.samples if s[0] == "ews_gateway_up"]
    for _, labels, value in sorted(gateways, key=lambda s: sorted(s[1].items())):
        state = "[green]up[/]" if value >= 1 else "[red]down[/]"
        console.print(
            f"gateway {labels.get('channel')}/{labels.get('gateway')}: {state}"
        )
    per_level: dict[tuple[str, str], dict[str, float]] = {}
    for name, labels, value in status.samples:
        if name != "ews_gateway_up":
            key = (labels.get("hazard", "?"), labels.get("level", "?"))
            per_level.setdefault(key, {})[name] = value
    for (hazard, level), values in sorted(per_level.items()):
        console.print(
            f"{hazard} {_level(level)}: "
            f"{values.get('ews_alerts_in_dissemination', 0):.0f} going out, lowest "
            f"coverage {100.0 * values.get('ews_alert_coverage_ratio', 0.0):.1f} %, "
            f"{values.get('ews_alerts_late', 0):.0f} late"
        )


def add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status", help="the live state: warnings, alerts, lag, dead letters"
    )
    p.add_argument("--settings", help="JSON file of settings (app id, prefix)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (host:port)")
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        help="a worker exporter's URL, http://HOST:PORT/metrics (repeatable)",
    )
    p.add_argument("--prometheus", help="a Prometheus server's URL")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    settings = (
        Settings.from_file(args.settings) if args.settings else Settings.from_env()
    )
    if args.bootstrap:
        settings = replace(settings, bootstrap=args.bootstrap)
    render(gather(settings, args.metrics, args.prometheus), Console())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Declare ``ews status``."""
    add_status(sub)
