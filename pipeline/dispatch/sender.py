"""Orders to gateways, and gateway reports to the ``receipts`` topic.

:meth:`Sender.handle` takes one ``dispatch_order/1``. A send the ledger
holds was handled before (a repeat after a restart, or an order produced
again) and nothing happens. An order of an alert that is closed or past its
deadline, or for a target the alert has reached already, is not sent: its
entry and its receipt say ``skipped`` and why. A target the registry no
longer knows is skipped too.

Otherwise the entry is written as ``sending``, straight to the ledger's
changelog, and only once the broker has acknowledged that record is the
gateway called; its answer makes the entry ``sent``, or ``refused`` with a
receipt saying so. Being the first write of its key, the ``sending``
record may bypass faust's producer buffer (where it would wait behind
every other table write of the worker) without overtaking an older value.
The phone number or loudspeaker topic is looked up in the registry here,
at send time, so no number is ever on Kafka.

:meth:`Sender.pump` moves the reports the gateways put on their queue to
``receipts``, keyed by the send's warning, with what the ledger knows of
the send.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from connectors.gateway import SendRequest
from pipeline.dispatch.context import DispatchContext
from pipeline.dispatch.planner import Planner
from pipeline.dispatch.records import iso, parse_iso, receipt
from pipeline.dispatch.state import reach_key
from schemas.errors import ConfigError

logger = logging.getLogger(__name__)


def entry_of(order: dict[str, Any], state: str, now: str) -> dict[str, Any]:
    """The first ledger entry of an order."""
    return {
        "send_id": order["send_id"],
        "identifier": order["identifier"],
        "warning_id": order["warning_id"],
        "target_id": order["target_id"],
        "channel": order["channel"],
        "route": order["route"],
        "wave": order["wave"],
        "village_id": order["village_id"],
        "state": state,
        "final": state == "skipped",
        "retryable": state != "skipped",
        "planned_at": order["planned_at"],
        "sent_at": now if state == "sending" else None,
        "at": now,
        "gateway": "dispatcher",
        "detail": "",
    }


class Sender:
    """Hands orders to the gateways (see the module docstring)."""

    def __init__(self, ctx: DispatchContext, planner: Planner) -> None:
        self.ctx = ctx
        self.planner = planner
        self._speech: Any = None
        self._speech_lock = asyncio.Lock()
        self._rendered: dict[tuple[str, str], Path | None] = {}

    def _skip_reason(self, order: dict[str, Any]) -> str | None:
        plan = self.ctx.alerts.get(order["identifier"])
        if plan is not None and plan["state"] != "open":
            if plan.get("superseded_by"):
                return f"alert superseded by {plan['superseded_by']}"
            return f"dispatch of the alert is over ({plan['outcome']})"
        if self.ctx.clock() > parse_iso(order["deadline"]):
            return "the alert expired before the order was taken"
        if self.ctx.reach.get(reach_key(order["identifier"], order["target_id"])):
            return "target already reached by this alert"
        if self.ctx.address(order["target_id"]) is None:
            return "target is not in the registry"
        return None

    async def _audio(self, order: dict[str, Any]) -> Path | None:
        """The rendered announcement, or None (no speech wanted, or it failed)."""
        if not self.ctx.config.speech or order["channel"] != "loudspeaker":
            return None
        key = (order["text"], order["language"])
        if key in self._rendered:
            return self._rendered[key]
        # One rendering at a time: SpeechRenderer writes a part file named
        # after the process, which two concurrent renderings would share.
        async with self._speech_lock:
            if key not in self._rendered:
                self._rendered[key] = await self._render(*key)
        return self._rendered[key]

    async def _render(self, text: str, language: str) -> Path | None:
        try:
            if self._speech is None:
                from connectors.speech import SpeechRenderer  # noqa: PLC0415

                self._speech = SpeechRenderer(self.ctx.config.journal_dir / "speech")
            rendered = await self._speech.render_async(text, language)
        except ConfigError as exc:
            logger.warning("dispatch: no audio, the text goes alone: %s", exc)
            return None
        return Path(rendered.path)

    async def handle(self, order: dict[str, Any]) -> None:
        """Send one order, at most once (see the module docstring)."""
        sid = order["send_id"]
        entry = self.ctx.ledger.get(sid)
        if sid in self.ctx.handling or (entry is not None and not self._unsent(entry)):
            logger.debug("dispatch: order %s was handled before", sid)
            return
        self.ctx.handling.add(sid)
        try:
            await self._handle(order)
        finally:
            self.ctx.handling.discard(sid)

    def _unsent(self, entry: dict[str, Any]) -> bool:
        """A ``sending`` entry whose gateway says it never took the send."""
        return (
            entry["state"] == "sending"
            and self.ctx.routes.handed_over(entry["route"], entry["send_id"]) is False
        )

    async def _handle(self, order: dict[str, Any]) -> None:
        sid, ctx = order["send_id"], self.ctx
        rt = self.planner.runtime(order["identifier"])
        now = iso(ctx.clock())

        reason = self._skip_reason(order)
        if reason is not None:
            ctx.metrics.sends.labels(order["channel"], order["route"], "skipped").inc()
            entry = dict(entry_of(order, "skipped", now), detail=reason)
            ctx.ledger[sid] = entry
            if rt is not None:
                rt.note(None, entry)
            await self._verdict(entry, "skipped", reason, retryable=False)
            return

        audio = await self._audio(order)
        old = ctx.ledger.get(sid)
        sending = entry_of(order, "sending", now)
        if old is None:
            await ctx.durable_set(ctx.ledger, sid, sending)
        else:  # sent now after a restart found it never handed over
            sending = dict(old, sent_at=now, at=now)
            ctx.ledger[sid] = sending
        if rt is not None:
            rt.note(old, sending)
        ctx.sent_here.add(sid)

        request = SendRequest(
            send_id=sid,
            channel=order["channel"],
            target_id=order["target_id"],
            address=ctx.address(order["target_id"]) or "",
            text=order["text"],
            language=order["language"],
            audio_path=audio,
            exercise=bool(order["exercise"]),
        )
        # XXX: a worker killed from here until ``sent`` is written leaves a
        # send that a real gateway may or may not have taken; the restart
        # neither repeats it nor knows it went (pipeline.dispatch.agents).
        result = await ctx.routes.send(order["route"], request)
        outcome = "accepted" if result.accepted else "refused"
        ctx.metrics.sends.labels(order["channel"], order["route"], outcome).inc()
        latest = ctx.ledger.get(sid)
        if latest is None or latest["state"] != "sending":
            return  # a receipt came first
        new = dict(latest, gateway=result.gateway, detail=result.reason[:200])
        if result.accepted:
            new["state"] = "sent"
        else:
            new.update(state="refused", final=True, retryable=result.retryable)
        ctx.ledger[sid] = new
        if rt is not None:
            rt.note(latest, new)
        if not result.accepted:
            await self._verdict(
                new,
                "refused",
                result.reason,
                retryable=result.retryable,
                gateway=result.gateway,
            )

    async def _verdict(
        self,
        entry: dict[str, Any],
        state: str,
        detail: str,
        *,
        retryable: bool,
        gateway: str = "dispatcher",
    ) -> None:
        record = receipt(
            send_id=entry["send_id"],
            state=state,
            at=self.ctx.clock(),
            gateway=gateway,
            detail=detail,
            entry=entry,
            retryable=retryable,
        )
        await self.ctx.publish_receipt(entry["warning_id"], record)

    async def pump(self) -> None:
        """Publish every gateway report, for as long as the worker runs."""
        queue = self.ctx.routes.receipts
        while True:
            report = await queue.get()
            await self.forward(report)

    async def forward(self, report: Any) -> None:
        """Publish one gateway :class:`~connectors.gateway.Receipt`."""
        entry = self.ctx.ledger.get(report.send_id)
        try:
            record = receipt(
                send_id=report.send_id,
                state=report.state,
                at=report.at,
                gateway=report.gateway,
                detail=report.detail,
                entry=entry,
            )
        except ValueError as exc:
            logger.warning("dispatch: a report names no send of ours: %s", exc)
            return
        key = record["warning_id"]
        if key is None:
            plan = self.ctx.alerts.get(record["identifier"]) or {}
            key = plan.get("warning_id") or record["identifier"]
        await self.ctx.publish_receipt(key, record)
