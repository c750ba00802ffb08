"""Receipts into the ledger and the coverage, timeouts, and the ends of waves.

:meth:`Accounting.handle` takes one ``receipt/1``. The first final receipt
of a send makes its ledger entry final (that is what counts it for its
wave); a ``delivered`` or ``played`` one wins over anything else, even
when it comes after a timeout (a loudspeaker back online plays what was
queued for it) and adds the target to the alert's reach, once, whichever
wave it came from. A receipt for a send the ledger does not hold is
counted and dropped. When the last send of the current wave is final the
planner decides what follows; meanwhile the coverage snapshot is
refreshed at most once a second.

:meth:`Accounting.tick` runs on a timer. It writes no table (faust tables
change only while a record is processed); it publishes a ``timeout``
receipt for every send that has waited ``wait_s`` for its receipt (or
every send in flight once the alert expired), completes waves a dead
worker left half produced, and, once per alert after a restart, asks the
dry-run routes to report again on the sends they took before it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from models.escalation import timed_out
from pipeline.dispatch.context import DispatchContext
from pipeline.dispatch.planner import Planner
from pipeline.dispatch.records import parse_iso, receipt
from pipeline.dispatch.state import add_reach, reach_key, snapshot

logger = logging.getLogger(__name__)

REACHED = frozenset({"delivered", "played"})
SNAPSHOT_EVERY_S = 1.0


def merged(old: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any] | None:
    """The ledger entry after receipt ``rec``, or None if it changes nothing."""
    if not rec["final"]:
        return None  # an SMSC ack or "buffered": the send is on its way
    if old["state"] in REACHED:
        return None
    if old.get("final") and old["state"] != "timeout" and rec["state"] not in REACHED:
        return None  # the first verdict stands; only a reach overrides it
    return dict(
        old,
        state=rec["state"],
        final=True,
        retryable=rec["retryable"],
        at=rec["at"],
        gateway=rec["gateway"],
        detail=rec["detail"][:200],
    )


class Accounting:
    """Keeps ledger, reach and coverage up to date (see the module docstring)."""

    def __init__(self, ctx: DispatchContext, planner: Planner) -> None:
        self.ctx = ctx
        self.planner = planner
        self.unmatched = 0

    async def handle(self, rec: dict[str, Any]) -> None:
        """Take one receipt."""
        ctx = self.ctx
        ctx.metrics.receipts.labels(rec["channel"] or "unknown", rec["state"]).inc()
        old = ctx.ledger.get(rec["send_id"])
        if old is None:
            self.unmatched += 1
            logger.debug("dispatch: receipt for unknown send %s", rec["send_id"])
            return
        identifier = old["identifier"]
        rt = self.planner.runtime(identifier)
        new = merged(old, rec)
        if new is not None:
            ctx.ledger[rec["send_id"]] = new
            if rt is not None:
                rt.note(old, new)
            if new["state"] in REACHED:
                self._reached(identifier, old, rec, rt)

        plan = ctx.alerts.get(identifier)
        if plan is None or rt is None:
            return
        # Checked for repeats too: a receipt read again after a crash must
        # finish the wave step its first reading may not have completed.
        if new is None and rec["final"]:
            self.planner.mend(identifier)
            plan = ctx.alerts[identifier]
        if plan["state"] == "open" and rt.wave_over(plan):
            await self.planner.after_wave(identifier)
            return
        if new is not None:
            self.refresh(identifier)

    def _reached(
        self, identifier: str, old: dict[str, Any], rec: dict[str, Any], rt: Any
    ) -> None:
        ctx = self.ctx
        key = reach_key(identifier, old["target_id"])
        if ctx.reach.get(key) is not None:
            return
        target = ctx.target(old["target_id"])
        reach = {
            "identifier": identifier,
            "target_id": old["target_id"],
            "channel": old["channel"],
            "village_id": old["village_id"],
            "people": target.people if target is not None else 0.0,
            "at": rec["at"],
            "send_id": rec["send_id"],
        }
        ctx.reach[key] = reach
        if rt is not None:
            add_reach(rt.account, reach)

    def refresh(self, identifier: str) -> None:
        """Write the coverage snapshot: at most once a second, and after the last
        send in flight got its receipt."""
        rt = self.ctx.runtimes.get(identifier)
        plan = self.ctx.alerts.get(identifier)
        if rt is None or plan is None:
            return
        now = time.monotonic()
        if now - rt.snapshot_at < SNAPSHOT_EVERY_S and rt.in_flight:
            return
        rt.snapshot_at = now
        self.ctx.coverage[identifier] = snapshot(
            plan, rt, self.ctx.config.policy.target, self.ctx.clock()
        )

    async def tick(self) -> None:
        """Timeouts, expiry, half-produced waves and recovery (module docstring)."""
        ctx = self.ctx
        now = ctx.clock()
        policy = ctx.config.policy
        to_recover: dict[str, dict[str, Any]] = {}
        for identifier, plan in list(ctx.alerts.items()):
            if plan is None or plan["state"] != "open":
                continue
            rt = self.planner.runtime(identifier)
            if rt is None:
                continue
            if not rt.recovered:
                # Sends from before a restart: ask the routes for their
                # reports again, and give each a fresh wait for them.
                rt.recovered = True
                for sid, sent_at in list(rt.in_flight.items()):
                    if sid not in ctx.sent_here:
                        route = ctx.ledger[sid]["route"]
                        to_recover.setdefault(route, {})[sid] = sent_at
                        rt.in_flight[sid] = max(sent_at, now)
            if rt.produced_wave < plan["wave"]:
                await self.planner.produce(identifier)

            expired = now >= parse_iso(plan["deadline"])
            # Sends enter in_flight in the order they went out: the first one
            # not yet due ends the search (unless the alert expired).
            for sid, sent_at in list(rt.in_flight.items()):
                if sid in rt.timed_out:
                    continue
                if not expired and not timed_out(sent_at, now, policy):
                    break
                rt.timed_out.add(sid)
                entry = ctx.ledger[sid]
                detail = (
                    "the alert expired before a receipt came"
                    if expired
                    else f"no final receipt {policy.wait_s:g} s after sending"
                )
                record = receipt(
                    send_id=sid,
                    state="timeout",
                    at=now,
                    gateway="dispatcher",
                    detail=detail,
                    entry=entry,
                )
                await ctx.publish_receipt(entry["warning_id"], record)

        for route, pending in to_recover.items():
            unsent = ctx.routes.recover(route, dict(pending))
            logger.info(
                "dispatch: %d send(s) on route %s from before the restart: reports "
                "asked for again, %d never handed over and sent now",
                len(pending),
                route,
                len(unsent),
            )
            for sid in unsent:
                await self.planner.reorder(ctx.ledger[sid])
