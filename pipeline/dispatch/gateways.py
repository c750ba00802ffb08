"""The dispatcher's routes: the gateway behind ``sms``, ``sms2`` and ``loudspeaker``.

:class:`Routes` builds one gateway per route from the configuration (dry
run unless the settings choose Kannel, SMPP or MQTT), starts and closes
them, and gives each receipt they report to one queue. A Kannel route
brings up the delivery-report endpoint
(:class:`connectors.receipts_http.ReceiptServer`) as well and asks for the
final reports only.

The dry-run routes add two things a real network has, so that dry runs
exercise the escalation:

- *an offline group*: loudspeakers whose commands are recorded but never
  acknowledged, or acknowledged only once the group "comes back"
  (``offline_s`` seconds after the route started), as a loudspeaker with
  a persistent MQTT session plays what was queued for it;
- *recovery after a restart*: a real SMSC or MQTT broker keeps the reports
  of a client that went away and hands them over when it is back; the
  dry-run gateway invented its receipts in memory, so :meth:`Routes.recover`
  invents them again, from the journal and the same seeded model, for the
  sends the ledger holds without a final receipt, and names those it never
  took (the worker died after marking them ``sending``), which the
  dispatcher then sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.dryrun import (
    DryRunGateway,
    DryRunLoudspeakerGateway,
    DryRunModel,
    DryRunSmsGateway,
)
from connectors.gateway import (
    Gateway,
    Receipt,
    ReceiptState,
    SendRequest,
    SendResult,
    utc_now,
)
from connectors.kannel import KannelGateway, KannelSettings
from connectors.receipts_http import ReceiptServer
from pipeline.dispatch.config import DispatchConfig, secret
from pipeline.settings import Settings
from schemas.errors import ConfigError

log = logging.getLogger(__name__)

# Kannel reports wanted: delivered (1), non-delivered (2) and SMSC reject
# (16). The intermediate ones (buffered 4, SMSC ack 8) would double the
# callbacks and receipts of every SMS and change no decision.
DLR_FINAL = 1 | 2 | 16


class DryRunRoute:
    """A dry-run gateway with an offline group and receipt recovery."""

    def __init__(
        self,
        inner: DryRunGateway,
        receipts: asyncio.Queue[Receipt],
        *,
        offline: frozenset[str] = frozenset(),
        offline_s: float = 0.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.channel = inner.channel
        self.receipts = receipts
        self.offline = offline
        self.offline_s = offline_s
        self._clock = clock
        self._own: asyncio.Queue[Receipt] = inner.receipts
        self._held: list[Receipt] = []
        self._back = False
        self._started: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._journaled: set[str] = set()

    @property
    def _success(self) -> ReceiptState:
        return "played" if self.channel == "loudspeaker" else "delivered"

    @property
    def journal(self) -> Path:
        return self.inner.journal

    async def start(self) -> None:
        await self.inner.start()
        self._started = self._clock()
        self._journaled = {
            r["send_id"] for r in self._journal_rows() if r.get("kind") == "send"
        }
        self._tasks.append(asyncio.create_task(self._forward()))
        if self.offline and self.offline_s > 0:
            self._tasks.append(asyncio.create_task(self._come_back()))

    async def send(self, req: SendRequest) -> SendResult:
        result = await self.inner.send(req)
        if result.accepted:
            self._journaled.add(req.send_id)
        return result

    def handed_over(self, send_id: str) -> bool:
        """Whether the gateway took this send (its journal says so)."""
        return send_id in self._journaled

    def _journal_rows(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        with self.journal.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    async def close(self) -> None:
        await self.inner.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _is_offline(self, send_id: str) -> bool:
        target = send_id.rpartition("/")[2].partition("#")[0]
        return target in self.offline

    async def _forward(self) -> None:
        while True:
            receipt = await self._own.get()
            if self._is_offline(receipt.send_id) and not self._back:
                self._held.append(receipt)
                continue
            await self.receipts.put(receipt)

    async def _come_back(self) -> None:
        await asyncio.sleep(self.offline_s)
        self._back = True
        held, self._held = self._held, []
        now = self._clock()
        log.info(
            "DRY-RUN %s: the offline group is back; %d held command(s) play now",
            self.name,
            len(held),
        )
        for r in held:
            detail = f"{r.detail}; played late, the group was offline"
            await self.receipts.put(Receipt(r.send_id, r.state, now, r.gateway, detail))

    def recover(self, pending: dict[str, datetime]) -> list[str]:
        """Invent again the receipts of the sends in ``pending`` it took.

        ``pending`` maps send id to when it went out (from the ledger).
        Returns the send ids it never took: the worker died between marking
        them ``sending`` and handing them over.
        """
        found: set[str] = set()
        for record in self._journal_rows():
            sid = record.get("send_id")
            if record.get("kind") != "send" or sid not in pending or sid in found:
                continue
            found.add(sid)
            sent_at = datetime.fromisoformat(record["at"])
            delay_s, failed = self.inner.model.outcome(sid)
            state = "failed" if failed else self._success
            at = sent_at + timedelta(seconds=delay_s)
            detail = f"DRY-RUN: invented {state} again after a restart"
            task = asyncio.create_task(
                self._later(Receipt(sid, state, at, self.name, detail))
            )
            self._tasks.append(task)
        return [sid for sid in pending if sid not in found]

    async def _later(self, receipt: Receipt) -> None:
        wait = (receipt.at - self._clock()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._own.put(receipt)


class Routes:
    """The gateway of every route, and the one queue of their receipts."""

    def __init__(
        self,
        config: DispatchConfig,
        settings: Settings,
        offline_loudspeakers: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.settings = settings
        self.receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        self.gateways: dict[str, Any] = {}
        self.server: ReceiptServer | None = None
        self._offline = offline_loudspeakers

    def _dryrun(self, route: str, model: DryRunModel) -> DryRunRoute:
        journal = self.config.journal_dir / f"{route}.jsonl"
        cls = DryRunLoudspeakerGateway if route == "loudspeaker" else DryRunSmsGateway
        inner = cls(asyncio.Queue(), journal, model)
        offline = self._offline if route == "loudspeaker" else frozenset()
        return DryRunRoute(
            inner, self.receipts, offline=offline, offline_s=self.config.offline_s
        )

    def _kannel(self, smsc_id: str) -> KannelGateway:
        s = self.settings
        password = secret("EWS_KANNEL_PASSWORD", s.kannel_password_file, "kannel")
        if not password:
            raise ConfigError(
                "kannel route: no password; set EWS_KANNEL_PASSWORD or "
                "kannel_password_file"
            )
        if self.server is None:
            # XXX: Kannel calls a dlr-url once; a report made while this
            # endpoint is down (a restart) is lost and its send times out.
            token = secret("EWS_KANNEL_DLR_TOKEN", s.kannel_dlr_token_file, "dlr")
            if not token:
                # XXX: a token made up at start-up changes with every restart,
                # so Kannel's reports on sends from before a restart are refused
                # (403) and those sends time out; set EWS_KANNEL_DLR_TOKEN.
                token = secrets.token_urlsafe(24)
                log.warning("kannel: no delivery-report token configured; made one up")
            self.server = ReceiptServer(
                self.receipts,
                token=token,
                host=s.kannel_dlr_host,
                port=s.kannel_dlr_port,
                public_url=s.kannel_dlr_public_url or None,
            )
        settings = KannelSettings(
            sendsms_url=s.kannel_sendsms_url,
            username=s.kannel_username,
            password=password,
            sender=s.kannel_sender,
            smsc_id=smsc_id or None,
            rate_per_s=s.kannel_rate_per_s,
            burst=max(1.0, s.kannel_rate_per_s),
            max_parts=s.kannel_max_parts,
            dlr_mask=DLR_FINAL,
        )
        return KannelGateway(settings, self.server.dlr_url)

    def _smpp(self) -> Gateway:
        from connectors.smpp import SmppGateway, SmppSettings  # noqa: PLC0415

        s = self.settings
        password = secret("EWS_SMPP_PASSWORD", s.smpp_password_file, "smpp") or ""
        settings = SmppSettings(
            host=s.smpp_host,
            port=s.smpp_port,
            system_id=s.smpp_system_id,
            password=password,
            source_addr=s.smpp_source_addr,
            rate_per_s=s.smpp_rate_per_s,
            burst=max(1.0, s.smpp_rate_per_s / 5),
        )
        return SmppGateway(settings, self.receipts)

    def _mqtt(self) -> Gateway:
        from connectors.loudspeaker import LoudspeakerGateway, MqttSettings  # noqa: PLC0415

        s = self.settings
        if s.mqtt_audio not in ("none", "base64", "url"):
            raise ConfigError(
                f"mqtt_audio is {s.mqtt_audio!r}; expected none, base64 or url"
            )
        settings = MqttSettings(
            host=s.mqtt_host,
            port=s.mqtt_port,
            client_id=s.mqtt_client_id,
            username=s.mqtt_username or None,
            password=secret("EWS_MQTT_PASSWORD", s.mqtt_password_file, "mqtt"),
            audio=s.mqtt_audio,  # type: ignore[arg-type]
        )
        return LoudspeakerGateway(settings, self.receipts)

    def build(self) -> None:
        """Create the gateway of every route (not yet started)."""
        c, s = self.config, self.settings
        kinds = {"sms": c.sms_gateway, "loudspeaker": c.loudspeaker_gateway}
        if c.sms2_gateway:
            kinds["sms2"] = c.sms2_gateway
        models = {
            "sms": c.dryrun_sms,
            "sms2": c.dryrun_sms2,
            "loudspeaker": c.dryrun_loudspeaker,
        }
        for route, kind in kinds.items():
            if kind == "dryrun":
                self.gateways[route] = self._dryrun(route, models[route])
            elif kind == "kannel":
                smsc = s.kannel_smsc2_id if route == "sms2" else s.kannel_smsc_id
                self.gateways[route] = self._kannel(smsc)
            elif kind == "smpp":
                self.gateways[route] = self._smpp()
            else:
                self.gateways[route] = self._mqtt()
        log.info(
            "dispatch routes: %s",
            ", ".join(f"{r} via {self.gateways[r].name}" for r in self.gateways),
        )

    async def start(self) -> None:
        if not self.gateways:
            self.build()
        if self.server is not None:
            await self.server.start()
        for route, gateway in self.gateways.items():
            try:
                await gateway.start()
            except OSError as exc:
                # A gateway that is down refuses each send, retryably.
                log.warning("dispatch route %s did not start: %s", route, exc)

    async def close(self) -> None:
        for gateway in self.gateways.values():
            try:
                await gateway.close()
            except Exception:  # closing one must not keep the others open
                log.exception("closing gateway %s failed", gateway.name)
        if self.server is not None:
            await self.server.close()

    async def send(self, route: str, req: SendRequest) -> SendResult:
        gateway = self.gateways.get(route)
        if gateway is None:
            return SendResult(
                req.send_id, False, "dispatcher", f"no gateway on route {route!r}"
            )
        try:
            return await gateway.send(req)
        except Exception as exc:  # one bad send must not leave its order hanging
            log.exception("dispatch route %s failed on %s", route, req.send_id)
            return SendResult(
                req.send_id,
                False,
                gateway.name,
                f"gateway error: {type(exc).__name__}: {exc}",
                retryable=True,
            )

    def recover(self, route: str, pending: dict[str, datetime]) -> list[str]:
        """Reports again on sends from before a restart; the ones never sent.

        Only a dry-run route knows what it took (its journal); a real
        gateway is left to report by itself (an MQTT session, an SMSC that
        keeps receipts for a client that went away), and none of its sends
        are known to be unsent.
        """
        gateway = self.gateways.get(route)
        if isinstance(gateway, DryRunRoute):
            return gateway.recover(pending)
        return []

    def handed_over(self, route: str, send_id: str) -> bool | None:
        """Whether the route's gateway took a send: True, False, or None (unknown)."""
        gateway = self.gateways.get(route)
        if isinstance(gateway, DryRunRoute):
            return gateway.handed_over(send_id)
        return None
