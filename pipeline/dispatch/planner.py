"""Taking CAP alerts and planning their waves.

:meth:`Planner.take` turns one ``cap_alert/1`` record into a plan: an
Update or a Cancel first closes what is still open of every alert it
references (their queued orders are then skipped by the sender); an Alert
or Update is targeted over its area, a Cancel at the targets that the
messages it cancels reached. Wave 1 follows. :meth:`Planner.after_wave`
runs when a wave is over and asks :func:`models.escalation.next_wave`
what comes next; :meth:`Planner.close` ends an alert's dispatch, writes
its final coverage and logs the one INFO line an operator reads.

Planning a wave writes its sends to ``dispatch_waves`` and their number
to the plan, then puts one order per send on ``dispatch``. The orders can
be put again at any time: :meth:`Planner.produce` re-reads the wave and
re-sends the orders of sends the ledger does not hold yet, and the sender
drops an order it has handled. The timer does so for every open alert
whose current wave this process has not produced, which completes a wave
that a dead worker left half produced. :meth:`Planner.mend` repairs a plan
whose wave record is shorter than the plan says (a worker killed while
flushing both), so that the wave can end.
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.cap_reader import read_alert
from models.coverage import CoverageAccount
from models.escalation import Send, deadline_of, first_wave, next_wave
from models.targeting import (
    Audience,
    Target,
    area_of_alert,
    cancel_audience,
    targets_in,
)
from pipeline.dispatch.context import DispatchContext
from pipeline.dispatch.records import alert_texts, iso, order, parse_iso, send_id_for
from pipeline.dispatch.state import (
    CHUNK,
    AlertRuntime,
    build_runtime,
    new_account,
    snapshot,
    wave_key,
)

logger = logging.getLogger(__name__)

DISPATCHED_TYPES = ("Alert", "Update", "Cancel")
DISPATCHED_STATUSES = ("Actual", "Exercise", "Test")


class Planner:
    """Plans and closes the dispatch of alerts (see the module docstring)."""

    def __init__(self, ctx: DispatchContext) -> None:
        self.ctx = ctx

    # -- runtimes -------------------------------------------------------------

    def runtime(self, identifier: str) -> AlertRuntime | None:
        """The in-memory view of an alert, built from the tables if needed."""
        rt = self.ctx.runtimes.get(identifier)
        if rt is not None:
            return rt
        plan = self.ctx.alerts.get(identifier)
        if plan is None:
            return None
        c = self.ctx.config
        rt = build_runtime(
            identifier,
            plan,
            self.targets_of(plan),
            self.ctx.ledger,
            self.ctx.reach,
            c.people_per_recipient,
            c.overlap,
        )
        self.ctx.runtimes[identifier] = rt
        return rt

    def targets_of(self, plan: dict[str, Any]) -> list[Target]:
        """Every target an alert may use."""
        if plan["msgType"] == "Cancel":
            reached = self.reached_by(plan["references"])
            return [t for t in reached if t.village_id in plan["villages"]]
        return targets_in(
            self.ctx.inventory,
            plan["villages"],
            drill=plan["status"] != "Actual",
            enrolment=self.ctx.config.enrolment,
        )

    def reached_by(self, identifiers: list[str]) -> list[Target]:
        """The targets that any of ``identifiers`` reached, each once."""
        prefixes = tuple(f"{i}|" for i in identifiers)
        found: dict[str, Target] = {}
        for key, reach in list(self.ctx.reach.items()):
            if reach is not None and key.startswith(prefixes):
                target = self.ctx.target(reach["target_id"])
                if target is not None:
                    found.setdefault(target.target_id, target)
        return list(found.values())

    # -- taking an alert ------------------------------------------------------

    async def take(self, envelope: dict[str, Any]) -> None:
        """Plan the dispatch of one CAP alert (a repeat only completes its wave)."""
        identifier = envelope["identifier"]
        if self.ctx.alerts.get(identifier) is not None:
            # Read again after a crash: what it started must be completed.
            self.mend(identifier)
            await self.produce(identifier)
            return
        if (
            envelope["msgType"] not in DISPATCHED_TYPES
            or envelope["status"] not in DISPATCHED_STATUSES
        ):
            logger.info(
                "dispatch %s: %s %s messages are not disseminated",
                identifier,
                envelope["status"],
                envelope["msgType"],
            )
            return

        alert = read_alert(envelope["xml"].encode("utf-8"))
        now = self.ctx.clock()
        for ref in envelope["references"]:
            self.close(
                ref,
                "superseded",
                f"superseded by {envelope['msgType']} {identifier}",
                superseded_by=identifier,
            )
        audience = self._audience(envelope, alert)
        expires = max(
            (i.expires for i in alert.infos if i.expires is not None),
            default=alert.sent,
        )
        deadline = deadline_of(
            alert.sent, expires, now, honour_expiry=self.ctx.config.honour_expiry
        )
        plan = {
            "identifier": identifier,
            "warning_id": envelope["warning_id"],
            "msgType": envelope["msgType"],
            "status": envelope["status"],
            "hazard": envelope.get("hazard"),
            "level": envelope.get("level"),
            "sent": envelope["sent"],
            "expires": iso(expires),
            "taken_at": iso(now),
            "deadline": iso(deadline),
            "references": list(envelope["references"]),
            "texts": alert_texts(alert),
            "villages": dict(audience.villages),
            "population_in_area": audience.population_in_area,
            "towns": list(audience.town_codes),
            "state": "open",
            "outcome": None,
            "reason": "",
            "superseded_by": None,
            "wave": 1,
            "waves": [],
            "wave_chunks": 0,
            "closed_at": None,
        }
        rt = AlertRuntime(identifier, {t.target_id: t for t in audience.targets}, None)
        rt.recovered = True  # nothing of it was sent before this process
        self.ctx.runtimes[identifier] = rt
        if audience.population <= 0 or not audience.targets:
            self.ctx.alerts[identifier] = plan
            self.close(
                identifier,
                "nobody",
                "no one to reach in the area "
                f"({audience.population_in_area} people live there)",
            )
            return
        rt.account = self._account(plan)
        logger.info(
            "dispatch %s %s %s started: %d people to reach (%d in %d villages of "
            "%d towns), %d loudspeakers, %d recipients",
            identifier,
            plan["status"],
            plan["msgType"],
            audience.population,
            audience.population_in_area,
            len(plan["villages"]),
            len(audience.town_codes),
            len(audience.by_channel("loudspeaker")),
            len(audience.by_channel("sms")),
        )
        sends = first_wave(audience.targets, self.ctx.config.policy)
        await self.launch(identifier, sends, 1, plan)

    def _account(self, plan: dict[str, Any]) -> CoverageAccount | None:
        c = self.ctx.config
        return new_account(plan, c.people_per_recipient, c.overlap)

    def _audience(self, envelope: dict[str, Any], alert: Any) -> Audience:
        c = self.ctx.config
        if envelope["msgType"] != "Cancel":
            return self.ctx.targeting.audience(
                area_of_alert(alert),
                status=envelope["status"],
                enrolment=c.enrolment,
                people_per_recipient=c.people_per_recipient,
                overlap=c.overlap,
            )
        populations: dict[str, int] = {}
        for ref in envelope["references"]:
            for v, p in (
                (self.ctx.alerts.get(ref) or {}).get("villages") or {}
            ).items():
                populations[v] = max(populations.get(v, 0), int(p))
        return cancel_audience(
            populations,
            self.reached_by(envelope["references"]),
            c.people_per_recipient,
            c.overlap,
            drill=envelope["status"] != "Actual",
        )

    # -- waves ----------------------------------------------------------------

    async def launch(
        self,
        identifier: str,
        sends: list[Send],
        wave: int,
        plan: dict[str, Any] | None = None,
    ) -> None:
        """Record wave ``wave`` with its sends in the plan, then put their orders."""
        pairs = [[x.target.target_id, x.route] for x in sends]
        chunks = [pairs[i : i + CHUNK] for i in range(0, len(pairs), CHUNK)] or [[]]
        for i, chunk in enumerate(chunks):
            self.ctx.waves[wave_key(identifier, wave, i)] = {"sends": chunk}
        plan = plan or self.ctx.alerts[identifier]
        sizes = list(plan.get("waves") or [])[: wave - 1] + [len(pairs)]
        self.ctx.alerts[identifier] = dict(
            plan, wave=wave, waves=sizes, wave_chunks=len(chunks)
        )
        rt = self.runtime(identifier)
        if rt is not None:
            for x in sends:
                rt.targets.setdefault(x.target.target_id, x.target)
        await self.produce(identifier, [(t, r) for t, r in pairs])

    def wave_sends(self, identifier: str) -> list[tuple[str, str]]:
        """``(target id, route)`` of every send of the current wave, as recorded."""
        plan = self.ctx.alerts[identifier]
        found: list[tuple[str, str]] = []
        for i in range(int(plan.get("wave_chunks") or 0)):
            chunk = self.ctx.waves.get(wave_key(identifier, plan["wave"], i))
            if chunk is not None:
                found.extend((t, r) for t, r in chunk["sends"])
        return found

    def recorded(self, identifier: str) -> int:
        """How many sends the current wave's record holds (chunk sizes only)."""
        plan = self.ctx.alerts[identifier]
        chunks = (
            self.ctx.waves.get(wave_key(identifier, plan["wave"], i))
            for i in range(int(plan.get("wave_chunks") or 0))
        )
        return sum(len(c["sends"]) for c in chunks if c is not None)

    async def produce(
        self, identifier: str, pairs: list[tuple[str, str]] | None = None
    ) -> int:
        """Put the orders of the current wave's sends not yet in the ledger."""
        plan, rt = self.ctx.alerts.get(identifier), self.runtime(identifier)
        if plan is None or rt is None or plan["state"] != "open":
            return 0
        wave, now, count = plan["wave"], self.ctx.clock(), 0
        rt.produced_wave = max(rt.produced_wave, wave)
        for target_id, route in self.wave_sends(identifier) if pairs is None else pairs:
            if self.ctx.ledger.get(send_id_for(identifier, target_id, wave)):
                continue
            target = rt.targets.get(target_id) or self.ctx.target(target_id)
            if target is None:
                continue
            record = order(plan, target, route, wave, now)
            await self.ctx.publish_order(plan["warning_id"], record)
            count += 1
        return count

    async def reorder(self, entry: dict[str, Any]) -> None:
        """Put again the order of one ledger entry (a send never handed over)."""
        plan = self.ctx.alerts.get(entry["identifier"])
        target = self.ctx.target(entry["target_id"])
        if plan is None or target is None:
            return
        record = order(plan, target, entry["route"], entry["wave"], self.ctx.clock())
        await self.ctx.publish_order(plan["warning_id"], record)

    def mend(self, identifier: str) -> None:
        """Make the plan's wave size agree with the recorded wave (see module)."""
        plan = self.ctx.alerts.get(identifier)
        if plan is None or plan["state"] != "open":
            return
        sizes = list(plan.get("waves") or [])
        recorded = self.recorded(identifier)
        # XXX: the sends of the wave record lost with a killed worker are not
        # replanned here; the next wave takes those targets up if still short.
        if len(sizes) >= plan["wave"] and recorded < sizes[plan["wave"] - 1]:
            logger.warning(
                "dispatch %s: wave %d holds %d of its %d sends; the rest wait for "
                "the next wave",
                identifier,
                plan["wave"],
                recorded,
                sizes[plan["wave"] - 1],
            )
            sizes[plan["wave"] - 1] = recorded
            self.ctx.alerts[identifier] = dict(plan, waves=sizes)

    async def after_wave(self, identifier: str) -> None:
        """Decide what follows the current wave, once it is over."""
        plan, rt = self.ctx.alerts.get(identifier), self.runtime(identifier)
        if plan is None or rt is None or plan["state"] != "open":
            return
        if not rt.wave_over(plan):
            return
        c = self.ctx.config
        wave, now = plan["wave"], self.ctx.clock()
        ratio, shares = 0.0, {}
        if rt.account is not None:
            cov = rt.account.compute(c.policy.target)
            ratio = cov.coverage_ratio
            shares = {
                v: (vc.any / vc.population if vc.population else 1.0)
                for v, vc in cov.villages.items()
            }
        verdict = next_wave(
            wave=wave,
            targets=list(rt.targets.values()),
            attempts=rt.history(),
            village_share=shares,
            coverage_ratio=ratio,
            now=now,
            deadline=parse_iso(plan["deadline"]),
            policy=c.policy,
        )
        if verdict.done:
            self.close(identifier, verdict.outcome or "done", verdict.reason)
            return
        logger.debug("dispatch %s: %s", identifier, verdict.reason)
        # Synchronous up to the first await inside launch: a second caller
        # sees the new wave and finds it not over.
        await self.launch(identifier, list(verdict.sends), wave + 1)
        self.ctx.coverage[identifier] = snapshot(
            self.ctx.alerts[identifier], rt, c.policy.target, now
        )

    def close(self, identifier: str, outcome: str, reason: str, **extra: Any) -> None:
        """End an alert's dispatch once: final coverage and the operator's line."""
        plan = self.ctx.alerts.get(identifier)
        if plan is None or plan["state"] != "open":
            return
        now = self.ctx.clock()
        plan = dict(
            plan,
            state="closed",
            outcome=outcome,
            reason=reason,
            closed_at=iso(now),
            **extra,
        )
        self.ctx.alerts[identifier] = plan
        rt = self.runtime(identifier)
        target = self.ctx.config.policy.target
        snap = snapshot(plan, rt, target, now)
        self.ctx.coverage[identifier] = snap
        self.ctx.metrics.alerts.labels(plan["msgType"], outcome).inc()
        if snap["seconds_to_target"] is not None:
            self.ctx.metrics.to_target_s.labels(plan["msgType"]).observe(
                snap["seconds_to_target"]
            )
        reached = snap["reached"]
        to_target = (
            f"{target:.0%} after {snap['seconds_to_target']:.1f} s"
            if snap["seconds_to_target"] is not None
            else f"{target:.0%} not reached"
        )
        logger.info(
            "dispatch %s %s %s %s: reached %.0f of %d people (%.1f %%; sms %.0f, "
            "loudspeaker %.0f), %s, %d send(s) in %d wave(s); %s",
            identifier,
            plan["status"],
            plan["msgType"],
            outcome,
            reached["any"],
            snap["population"],
            100.0 * snap["coverage"],
            reached["sms"],
            reached["loudspeaker"],
            to_target,
            snap["sends"],
            plan["wave"],
            reason,
        )
