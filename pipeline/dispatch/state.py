"""What the dispatcher keeps per alert and per send, and its in-memory view.

Five tables, each a faust table in the worker (a dict in unit tests), all
written while a record of the alert's warning is being processed, so
their changelog partition is the warning's partition of ``alerts.cap``,
``dispatch`` and ``receipts`` alike (every topic of the dispatcher is keyed
by warning id and has four partitions):

``dispatch_alerts`` (CAP identifier -> plan)
    The alert as the dispatcher took it: message type, status, texts,
    deadline, the audience (persons per village), the current wave and the
    number of sends of every wave, and once dispatch is over its outcome
    and reason.
``dispatch_waves`` (identifier#wave#chunk -> sends)
    The sends of each wave, ``[target id, route]`` pairs in chunks of
    :data:`CHUNK`, so a wave can be produced again after a crash.
``dispatch_ledger`` (send id -> entry)
    One entry per send, written first by the sender: target, channel,
    route, wave and its state, ``sending`` -> ``sent`` | ``refused``, or
    ``skipped``, then the receipts' ``delivered``, ``played``, ``failed``,
    ``expired`` or a ``timeout``; ``final`` once no more news is expected.
``dispatch_reach`` (identifier|target id -> reach)
    The first confirmed reach of a target by an alert, whichever wave it
    came from: the coverage account's events.
``dispatch_coverage`` (identifier -> snapshot)
    People in the area, reached per channel and by any, the coverage ratio
    and its timeline, written as receipts come (at most once per second)
    and when a wave ends or dispatch is over.

:class:`AlertRuntime` is the worker's view of one open alert, built from
the ledger and reach tables when first needed and kept up to date as this
worker writes them: finals per wave, attempts per target, the sends
awaiting a receipt, and the :class:`models.coverage.CoverageAccount`. It is
dropped on every rebalance and rebuilt from the tables, which are the
truth.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.coverage import CoverageAccount, Overlap
from models.escalation import Attempt, Outcome, outcome_of
from models.targeting import Target
from pipeline.dispatch.records import iso, parse_iso

Table = MutableMapping[str, Any]
TABLES = (
    "dispatch_alerts",
    "dispatch_waves",
    "dispatch_ledger",
    "dispatch_reach",
    "dispatch_coverage",
)
CHUNK = 4000
IN_FLIGHT = frozenset({"sending", "sent"})
TIMELINE_STEP = 0.005
TIMELINE_POINTS = 400


def reach_key(identifier: str, target_id: str) -> str:
    return f"{identifier}|{target_id}"


def wave_key(identifier: str, wave: int, chunk: int) -> str:
    return f"{identifier}#{wave}#{chunk}"


def entry_outcome(entry: dict[str, Any]) -> Outcome:
    """The escalation outcome of a ledger entry."""
    state = entry["state"]
    if state in ("sending", "sent"):
        return "pending"
    return outcome_of(state, retryable=bool(entry.get("retryable", True)))


@dataclass
class AlertRuntime:
    """The in-memory view of one alert (see the module docstring)."""

    identifier: str
    targets: dict[str, Target]
    account: CoverageAccount | None
    finals: dict[int, int] = field(default_factory=dict)
    attempts: dict[str, dict[int, Attempt]] = field(default_factory=dict)
    in_flight: dict[str, datetime] = field(default_factory=dict)
    timed_out: set[str] = field(default_factory=set)
    entries: int = 0
    produced_wave: int = 0
    recovered: bool = False
    snapshot_at: float = float("-inf")

    def note(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """Take a ledger write of one of the alert's sends."""
        sid, wave = new["send_id"], int(new["wave"])
        if old is None:
            self.entries += 1
        if new.get("final") and not (old and old.get("final")):
            self.finals[wave] = self.finals.get(wave, 0) + 1
        attempt = Attempt(wave, new["route"], entry_outcome(new))
        self.attempts.setdefault(new["target_id"], {})[wave] = attempt
        if new["state"] in IN_FLIGHT and not new.get("final"):
            self.in_flight[sid] = parse_iso(new["sent_at"] or new["at"])
        else:
            self.in_flight.pop(sid, None)

    def history(self) -> dict[str, list[Attempt]]:
        """Attempts per target, oldest wave first."""
        return {
            t: [by_wave[w] for w in sorted(by_wave)]
            for t, by_wave in self.attempts.items()
        }

    def wave_over(self, plan: dict[str, Any]) -> bool:
        """True once every send of the plan's current wave has a final outcome."""
        wave = int(plan["wave"])
        sizes = plan.get("waves") or []
        if len(sizes) < wave:
            return False  # the wave is being planned
        return self.finals.get(wave, 0) >= sizes[wave - 1]


def new_account(
    plan: dict[str, Any], people_per_recipient: float, overlap: Overlap
) -> CoverageAccount | None:
    """The coverage account of a plan (None when the audience is empty)."""
    villages = {v: int(p) for v, p in plan["villages"].items()}
    if sum(villages.values()) <= 0:
        return None
    return CoverageAccount(
        villages, parse_iso(plan["taken_at"]), people_per_recipient, overlap
    )


def add_reach(account: CoverageAccount | None, reach: dict[str, Any]) -> None:
    if account is None:
        return
    at = parse_iso(reach["at"])
    if reach["channel"] == "sms":
        account.add_sms(reach["target_id"], reach["village_id"], at)
    else:
        account.add_loudspeaker(
            reach["target_id"], reach["village_id"], float(reach["people"]), at
        )


def build_runtime(
    identifier: str,
    plan: dict[str, Any],
    targets: list[Target],
    ledger: Table,
    reach: Table,
    people_per_recipient: float,
    overlap: Overlap,
) -> AlertRuntime:
    """An alert's runtime from the tables (one pass over ledger and reach)."""
    runtime = AlertRuntime(
        identifier,
        {t.target_id: t for t in targets},
        new_account(plan, people_per_recipient, overlap),
    )
    prefix = identifier + "/"
    for sid, entry in list(ledger.items()):
        if sid.startswith(prefix) and entry is not None:
            runtime.note(None, entry)
    prefix = identifier + "|"
    for key, value in list(reach.items()):
        if key.startswith(prefix) and value is not None:
            add_reach(runtime.account, value)
    return runtime


def thin_timeline(
    timeline: list[tuple[datetime, float]], start: datetime, target: float
) -> list[list[float]]:
    """``[[s after start, ratio], ...]``: steps of 0.5 %, and the target crossing."""
    kept: list[list[float]] = []
    last = -1.0
    crossed = False
    for t, ratio in timeline:
        crossing = not crossed and ratio >= target - 1e-12
        crossed = crossed or crossing
        if ratio - last >= TIMELINE_STEP or crossing or not kept:
            kept.append([round((t - start).total_seconds(), 3), round(ratio, 6)])
            last = ratio
    if timeline and kept[-1][1] != round(timeline[-1][1], 6):
        t, ratio = timeline[-1]
        kept.append([round((t - start).total_seconds(), 3), round(ratio, 6)])
    if len(kept) > TIMELINE_POINTS:
        step = len(kept) / TIMELINE_POINTS
        kept = [kept[int(i * step)] for i in range(TIMELINE_POINTS)] + [kept[-1]]
    return kept


def snapshot(
    plan: dict[str, Any], runtime: AlertRuntime | None, target: float, now: datetime
) -> dict[str, Any]:
    """The ``dispatch_coverage`` value of an alert."""
    base = {
        k: plan.get(k)
        for k in (
            "identifier",
            "warning_id",
            "msgType",
            "status",
            "hazard",
            "level",
            "sent",
            "taken_at",
            "population_in_area",
            "state",
            "outcome",
            "reason",
            "wave",
            "closed_at",
        )
    }
    account = runtime.account if runtime is not None else None
    result: dict[str, Any] = {
        **base,
        "population": 0,
        "reached": {"sms": 0.0, "loudspeaker": 0.0, "any": 0.0},
        "coverage": 0.0,
        "target": target,
        "seconds_to_target": None,
        "timeline": [],
        "sends": runtime.entries if runtime is not None else 0,
        "updated_at": iso(now),
    }
    if account is not None:
        cov = account.compute(target)
        result.update(
            population=cov.population,
            reached={
                "sms": round(cov.reached_sms, 3),
                "loudspeaker": round(cov.reached_loudspeaker, 3),
                "any": round(cov.reached_any, 3),
            },
            coverage=round(cov.coverage_ratio, 6),
            seconds_to_target=cov.time_to_target_s,
            timeline=thin_timeline(cov.timeline, account.started_at, target),
        )
    return result
