"""DRY-RUN gateways: record what would have been sent, invent the receipts.

Nobody is messaged. A dry-run gateway writes each request it gets to a JSONL
journal (phone numbers masked) and, after a modelled delay, puts a receipt
on the queue as a real gateway would. Every journal record carries
``"mode": "DRY-RUN"``, every receipt's detail and every log line starts with
``DRY-RUN``, so a dry run can never be taken for a real dispatch.

:class:`DryRunModel` draws each send's outcome from a generator seeded by
the model's ``seed`` and the ``send_id``, so a send gets the same delay and
fate whatever order it is sent in and however often a run is repeated:

- delay (seconds, modelled time): lognormal with median ``delay_median_s``
  and shape ``delay_sigma`` (``delay_sigma=0`` gives a fixed delay);
- failure with probability ``failure_rate``, else delivered (SMS) or played
  (loudspeaker).

The receipt's time is the send time plus the modelled delay; the gateway
waits ``delay * time_scale`` real seconds before handing it over (0: at
once, for replays and tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.gateway import (
    Channel,
    Receipt,
    ReceiptState,
    SendRequest,
    SendResult,
    utc_now,
)
from models.channels import mask_phone
from models.sms_text import count_parts
from schemas.errors import ConfigError

log = logging.getLogger(__name__)

MODE = "DRY-RUN"


@dataclass(frozen=True)
class DryRunModel:
    """How the invented receipts behave (delays in seconds, rate 0..1)."""

    delay_median_s: float = 5.0
    delay_sigma: float = 0.8
    failure_rate: float = 0.05
    seed: int = 0
    time_scale: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_median_s < 0 or self.delay_sigma < 0 or self.time_scale < 0:
            raise ConfigError(
                "dry-run model: delay_median_s, delay_sigma and time_scale must "
                f"be >= 0, got {self.delay_median_s}, {self.delay_sigma}, "
                f"{self.time_scale}"
            )
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ConfigError(
                f"dry-run model: failure_rate {self.failure_rate} is outside [0, 1]"
            )

    def outcome(self, send_id: str) -> tuple[float, bool]:
        """Return ``(delay_s, failed)`` for one send."""
        rng = random.Random(f"{self.seed}:{send_id}")
        delay = self.delay_median_s * math.exp(self.delay_sigma * rng.gauss(0.0, 1.0))
        return delay, rng.random() < self.failure_rate


class DryRunGateway:
    """A gateway that only pretends; see the module docstring."""

    channel: Channel = "sms"

    def __init__(
        self,
        receipts: asyncio.Queue[Receipt],
        journal: Path,
        model: DryRunModel | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.name = f"dryrun-{self.channel}"
        self.receipts = receipts
        self.journal = journal
        self.model = model or DryRunModel()
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0

    async def start(self) -> None:
        """Create the journal's folder."""
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        log.info(
            "%s %s: journal %s; nobody is messaged", MODE, self.channel, self.journal
        )

    async def send(self, req: SendRequest) -> SendResult:
        """Journal the request and schedule its invented receipt."""
        if req.channel != self.channel:
            reason = f"{MODE} {self.name} takes {self.channel}, not {req.channel}"
            return SendResult(req.send_id, False, self.name, reason)
        await self.start()
        sent_at = self._clock()
        delay_s, failed = self.model.outcome(req.send_id)
        self._write({"kind": "send", "at": sent_at.isoformat(), **self.describe(req)})
        log.info(
            "%s %s: would send %s to %s",
            MODE,
            self.channel,
            req.send_id,
            self._address(req),
        )
        self.sent += 1

        task = asyncio.create_task(self._receipt(req, sent_at, delay_s, failed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return SendResult(req.send_id, True, self.name, f"{MODE}: recorded, not sent")

    async def drain(self) -> None:
        """Wait until every scheduled receipt has been handed over."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def close(self) -> None:
        """Drop the receipts not yet handed over."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def describe(self, req: SendRequest) -> dict[str, Any]:
        """The journal fields of a request (address masked for SMS)."""
        return {
            "send_id": req.send_id,
            "channel": req.channel,
            "target_id": req.target_id,
            "address": self._address(req),
            "text": req.text,
            "language": req.language,
            "exercise": req.exercise,
            "audio_path": str(req.audio_path) if req.audio_path else None,
        }

    def _address(self, req: SendRequest) -> str:
        return mask_phone(req.address) if req.channel == "sms" else req.address

    def _success_state(self) -> ReceiptState:
        return "delivered"

    async def _receipt(
        self, req: SendRequest, sent_at: datetime, delay_s: float, failed: bool
    ) -> None:
        if self.model.time_scale > 0:
            await asyncio.sleep(delay_s * self.model.time_scale)
        state: ReceiptState = "failed" if failed else self._success_state()
        at = sent_at + timedelta(seconds=delay_s)
        detail = (
            f"{MODE}: invented {state} after {delay_s:.1f} s (seed {self.model.seed})"
        )
        self._write(
            {
                "kind": "receipt",
                "send_id": req.send_id,
                "state": state,
                "at": at.isoformat(),
                "delay_s": round(delay_s, 3),
            }
        )
        await self.receipts.put(Receipt(req.send_id, state, at, self.name, detail))

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(
            {"mode": MODE, "gateway": self.name, **record}, ensure_ascii=False
        )
        with self.journal.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class DryRunSmsGateway(DryRunGateway):
    """Dry-run SMS: journals the masked number and the SMS part count."""

    channel: Channel = "sms"

    def describe(self, req: SendRequest) -> dict[str, Any]:
        parts = count_parts(req.text)
        return {
            **super().describe(req),
            "encoding": parts.encoding,
            "parts": parts.parts,
        }


class DryRunLoudspeakerGateway(DryRunGateway):
    """Dry-run loudspeaker: the receipt of a success is ``played``."""

    channel: Channel = "loudspeaker"

    def _success_state(self) -> ReceiptState:
        return "played"
