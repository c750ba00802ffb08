"""What a run produced, read back from its topics.

:func:`read_topic` reads a topic from its first to its last record (at the
time of the call). :func:`collect` gathers the warnings, CAP alerts and dead
letters of a run into a :class:`RunSummary`, re-validating every CAP alert
against the schema, and :func:`render` prints it as tables (colour in a
terminal, plain text when piped).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from pipeline.dispatch.report import dispatch_rows, render_dispatch
from pipeline.kafka_security import client_kwargs
from pipeline.settings import Settings
from schemas.cap import validate_cap
from schemas.errors import CapError


def read_topic(
    bootstrap: str,
    topic: str,
    timeout_s: float = 30.0,
    security: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Every record of ``topic`` up to its current end, in partition order.

    ``security`` holds the consumer's TLS and SASL keyword arguments
    (:func:`pipeline.kafka_security.client_kwargs`); None for PLAINTEXT.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        client_id="ews-summary",
        **(security or {}),
    )
    try:
        tps = [
            TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
        ]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        remaining = {tp for tp in tps if ends[tp] > consumer.position(tp)}
        polls = 0
        while remaining and polls < timeout_s * 10:
            polls += 1
            for tp, batch in consumer.poll(timeout_ms=100).items():
                records.extend(batch)
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        consumer.close()


@dataclass
class RunSummary:
    """The outcome of a run."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    cap_published: int = 0
    cap_valid: int = 0
    cap_invalid: list[str] = field(default_factory=list)
    duplicates: int = 0
    deadletters: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        reasons = Counter(d["reason_class"] for d in self.deadletters)
        return {
            "warnings": self.warnings,
            "cap": {
                "published": self.cap_published,
                "valid": self.cap_valid,
                "duplicates": self.duplicates,
            },
            "deadletter": {
                "count": len(self.deadletters),
                "by_reason": dict(reasons),
                "records": [
                    {k: d[k] for k in ("source", "reason_class", "reason", "time")}
                    for d in self.deadletters
                ],
            },
            **self.extra,
        }


def collect(settings: Settings) -> RunSummary:
    """Read the run's warnings, CAP alerts and dead letters back from Kafka."""
    summary = RunSummary()
    bootstrap = settings.bootstrap
    security = client_kwargs(settings)
    events = {}
    for rec in read_topic(bootstrap, settings.topic("warnings"), security=security):
        ev = json.loads(rec.value)
        events.setdefault(ev["event_id"], ev)
    alerts: dict[str, dict[str, Any]] = {}
    for rec in read_topic(bootstrap, settings.topic("alerts.cap"), security=security):
        env = json.loads(rec.value)
        if env["identifier"] in alerts:
            summary.duplicates += 1
            continue
        alerts[env["identifier"]] = env
        try:
            validate_cap(env["xml"].encode("utf-8"))
            summary.cap_valid += 1
        except CapError as exc:
            summary.cap_invalid.append(f"{env['identifier']}: {exc}")
    summary.cap_published = len(alerts)
    by_event = {env["event_id"]: env for env in alerts.values()}
    for ev in sorted(events.values(), key=lambda e: (e["observed_at"], e["event_id"])):
        env = by_event.get(ev["event_id"], {})
        summary.warnings.append(
            {
                "hazard": ev["hazard"],
                "area": ", ".join(ev["area"]["names"]),
                "area_codes": ev["area"]["codes"],
                "level": ev["level"],
                "previous_level": ev["previous_level"],
                "action": ev["action"],
                "observed_at": ev["observed_at"],
                "msgType": env.get("msgType"),
                "sent": env.get("sent"),
                "identifier": env.get("identifier"),
                "event_id": ev["event_id"],
                "warning_id": ev["warning_id"],
            }
        )
    summary.deadletters = [
        json.loads(r.value)
        for r in read_topic(bootstrap, settings.topic("deadletter"), security=security)
    ]
    summary.extra["dispatch"] = dispatch_rows(settings)
    from pipeline.verify import verify_topics  # noqa: PLC0415 (it reads topics here)

    summary.extra["verification"] = verify_topics(
        bootstrap, settings.topic_prefix, settings.rainstorm_ruleset, security
    ).summary()
    return summary


CST = timezone(timedelta(hours=8), "CST")
LEVEL_STYLE = {
    "blue": "blue",
    "yellow": "yellow",
    "orange": "dark_orange",
    "red": "red",
}


def _area_text(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1} towns"


def _local(text: str) -> str:
    """A UTC ISO time as China Standard Time, minutes."""
    t = datetime.fromisoformat(text).astimezone(CST)
    return t.strftime("%m-%d %H:%M")


def render(summary: RunSummary, console: Console | None = None) -> None:
    """Print the summary tables: one row per warning, then the counts."""
    console = console or Console()
    table = Table(title="Warnings (times in China Standard Time, UTC+8)")
    for col in ("hazard", "area", "issued", "course", "CAP messages"):
        table.add_column(col)
    by_warning: dict[str, list[dict[str, Any]]] = {}
    for w in summary.warnings:
        by_warning.setdefault(w["warning_id"], []).append(w)
    for steps in by_warning.values():
        first = steps[0]
        course = []
        for w in steps:
            if w["action"] == "extend":
                continue
            level = w["level"] or "lifted"
            style = LEVEL_STYLE.get(w["level"] or "", "dim")
            course.append(f"[{style}]{level}[/] {_local(w['observed_at'])[6:]}")
        published = sum(1 for w in steps if w["identifier"])
        table.add_row(
            first["hazard"],
            _area_text(first["area"].split(", ")),
            _local(first["observed_at"]),
            " > ".join(course),
            f"{published}/{len(steps)}",
        )
    console.print(table)

    by = Counter(
        (w["hazard"], w["action"], w["level"] or "-") for w in summary.warnings
    )
    counts = Table(title="Decisions by hazard, action and level")
    for col in ("hazard", "action", "level", "count"):
        counts.add_column(col)
    for (hazard, action, level), n in sorted(by.items()):
        counts.add_row(hazard, action, level, str(n))
    console.print(counts)

    console.print(
        f"CAP alerts published: {summary.cap_published}, valid against CAP 1.2: "
        f"{summary.cap_valid}, duplicates skipped: {summary.duplicates}"
    )
    for line in summary.cap_invalid:
        console.print(f"[red]invalid CAP[/] {line}")
    reasons = Counter(d["reason_class"] for d in summary.deadletters)
    console.print(f"Dead letters: {len(summary.deadletters)} {dict(reasons) or ''}")
    for d in summary.deadletters[:10]:
        console.print(f"  {d['source']}: [{d['reason_class']}] {d['reason'][:160]}")
    render_dispatch(summary.extra.get("dispatch", []), console)
