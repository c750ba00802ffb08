"""SMS over SMPP 3.4, straight to an SMSC, with smpplib.

smpplib is synchronous, so one thread owns the link: it binds as a
transceiver, submits, reads every PDU and answers the SMSC's requests
(``deliver_sm``, ``enquire_link``, ``unbind``). The asyncio side hands it
jobs through a queue and a wake-up socket, and gets back a future per
:meth:`SmppGateway.send` and receipts on the queue, via
``loop.call_soon_threadsafe``.

A job is one text to one number, in parts from
:func:`models.sms_text.encode_parts` (GSM 7 with ``data_coding=0``, else
UCS-2 with ``data_coding=8``; parts of a long text carry a concatenation
header and ``esm_class=0x40``). At most ``window`` submits await their
``submit_sm_resp`` at a time. ``ESME_ROK`` takes a part (the job is accepted
once all are); ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` put the part back
at the head of the queue and pause all submits for ``throttle_delay_s``,
doubled on each retry, until ``max_throttle_retries`` refuses the job as
retryable; any other status (``ESME_RINVDSTADR``, ...) refuses the job for
good and its remaining parts are not sent.

Receipts are ``deliver_sm`` with ``esm_class`` 0x04, read from the
``message_state`` TLV or the ``stat:`` field of the text. A job gets one
receipt once all its parts have a final state: delivered if all were,
otherwise the worst of failed and expired. When the link drops (socket
closed, ``unbind``, no answer in ``response_timeout_s``) the thread binds
again with a growing delay and resubmits the parts that had no answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import re
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from connectors.gateway import (
    Receipt,
    ReceiptState,
    SendRequest,
    SendResult,
    TokenBucket,
    utc_now,
)
from models.channels import mask_phone
from models.sms_text import encode_parts

log = logging.getLogger(__name__)

# smpplib dumps every PDU in hex at DEBUG, phone numbers included: keep its
# logger at INFO whatever the root level is.
WIRE_LOGGER = f"{__name__}.wire"
logging.getLogger(WIRE_LOGGER).setLevel(logging.INFO)

TRANSIENT = {smpplib.consts.SMPP_ESME_RTHROTTLED, smpplib.consts.SMPP_ESME_RMSGQFUL}
LINK_ERRORS = (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError)
STAT_STATES: dict[str, ReceiptState] = {
    "DELIVRD": "delivered",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
    "EXPIRED": "expired",
}
# message_state TLV (SMPP 3.4, 5.2.28): 2 delivered, 3 expired, 4 deleted,
# 5 undeliverable, 8 rejected.
TLV_STATES: dict[int, ReceiptState] = {2: "delivered", 3: "expired"}
TLV_STATES.update(dict.fromkeys((4, 5, 8), "failed"))
_ID_RE = re.compile(r"\bid:(\S+)")
_STAT_RE = re.compile(r"\bstat:(\w+)")
_SEVERITY = {"failed": 3, "expired": 2, "unknown": 1, "delivered": 0}


@dataclass(frozen=True)
class SmppSettings:
    """The SMSC, the bind and the pacing (rates in parts per second)."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    source_addr: str = "12121"
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    window: int = 10
    rate_per_s: float = 50.0
    burst: float = 10.0
    max_parts: int = 10
    throttle_delay_s: float = 1.0
    max_throttle_retries: int = 5
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 30.0
    enquire_link_s: float = 30.0
    response_timeout_s: float = 30.0
    submit_timeout_s: float = 120.0


@dataclass
class _Part:
    job: _Job
    index: int
    payload: bytes
    attempts: int = 0
    message_id: str | None = None
    state: ReceiptState | None = None


@dataclass
class _Job:
    req: SendRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[SendResult]
    data_coding: int
    parts: list[_Part] = field(default_factory=list)
    taken: int = 0
    closed: bool = False
    reported: bool = False


def _text(value: bytes | str | None) -> str | None:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def receipt_state(pdu: Any) -> tuple[str | None, ReceiptState, str]:
    """Return ``(message_id, state, stat)`` of a delivery-receipt ``deliver_sm``."""
    text = _text(pdu.short_message) or ""
    message_id = _text(getattr(pdu, "receipted_message_id", None))
    if not message_id:
        match = _ID_RE.search(text)
        message_id = match.group(1) if match else None
    tlv_state = getattr(pdu, "message_state", None)
    stat_match = _STAT_RE.search(text)
    stat = stat_match.group(1).upper() if stat_match else ""
    if isinstance(tlv_state, int) and tlv_state in TLV_STATES:
        return message_id, TLV_STATES[tlv_state], stat or f"state {tlv_state}"
    return message_id, STAT_STATES.get(stat, "unknown"), stat


def _resolve(future: asyncio.Future[SendResult], result: SendResult) -> None:
    if not future.done():  # a send that timed out has given up on its future
        future.set_result(result)


class _LinkDown(Exception):
    """The SMSC ended the session or stopped answering."""


class SmppGateway:
    """An SMS gateway that binds to an SMSC as a transceiver."""

    name = "smpp"
    channel = "sms"

    def __init__(
        self,
        settings: SmppSettings,
        receipts: asyncio.Queue[Receipt],
        *,
        clock: Callable[[], datetime] = utc_now,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.settings = settings
        self.receipts = receipts
        self.bucket = bucket or TokenBucket(settings.rate_per_s, settings.burst)
        self._clock = clock
        self._incoming: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bound = asyncio.Event()
        self.binds = 0
        self.peak_outstanding = 0
        # Thread-side state.
        self._waiting: collections.deque[_Part] = collections.deque()
        self._outstanding: dict[int, tuple[_Part, float]] = {}
        self._by_message_id: dict[str, _Part] = {}
        self._early: dict[str, tuple[ReceiptState, str]] = {}
        self._hold_until = 0.0

    # -- asyncio side -------------------------------------------------------

    async def start(self) -> None:
        """Start the link thread (it binds, and binds again after a drop)."""
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=self._run, name="smpp-link", daemon=True
            )
            self._thread.start()

    async def wait_bound(self) -> None:
        """Wait until the link is bound."""
        await self._bound.wait()

    async def send(self, req: SendRequest) -> SendResult:
        """Submit one SMS; return when the SMSC has taken or refused every part."""
        if req.channel != "sms":
            return SendResult(
                req.send_id, False, self.name, f"smpp sends SMS, not {req.channel}"
            )
        encoding, payloads = encode_parts(req.text, zlib.crc32(req.send_id.encode()))
        if len(payloads) > self.settings.max_parts:
            reason = (
                f"text needs {len(payloads)} SMS parts; "
                f"at most {self.settings.max_parts} allowed"
            )
            return SendResult(req.send_id, False, self.name, reason)

        await self.start()
        loop = asyncio.get_running_loop()
        job = _Job(req, loop, loop.create_future(), 0 if encoding == "gsm7" else 8)
        job.parts = [_Part(job, i, p) for i, p in enumerate(payloads)]
        await self.bucket.acquire(len(payloads))
        self._incoming.put(job)
        self._wake()
        try:
            result = await asyncio.wait_for(
                asyncio.shield(job.future), self.settings.submit_timeout_s
            )
        except TimeoutError:
            job.closed = True
            result = SendResult(
                req.send_id,
                False,
                self.name,
                f"no answer from the SMSC within {self.settings.submit_timeout_s} s",
                retryable=True,
            )
        phone = mask_phone(req.address)
        log.debug("smpp: %s to %s: %s", req.send_id, phone, result.reason)
        if not result.accepted:
            log.warning("smpp: %s refused: %s", req.send_id, result.reason)
        return result

    async def close(self) -> None:
        """Unbind, stop the thread and refuse whatever was still waiting."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _finish(
        self, job: _Job, accepted: bool, reason: str, retryable: bool = False
    ) -> None:
        if job.closed:
            return
        job.closed = True
        result = SendResult(job.req.send_id, accepted, self.name, reason, retryable)
        job.loop.call_soon_threadsafe(_resolve, job.future, result)

    def _set_bound(self, bound: bool) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._bound.set if bound else self._bound.clear)

    # -- link thread ----------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.reconnect_min_s
        while not self._stopping.is_set():
            client = self._open()
            if client is None:
                self._stopping.wait(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            delay = self.settings.reconnect_min_s
            self.binds += 1
            self._set_bound(True)
            try:
                self._serve(client)
            except (_LinkDown, *LINK_ERRORS) as exc:
                log.warning("smpp: link lost: %s", exc or type(exc).__name__)
            finally:
                self._set_bound(False)
                self._requeue_outstanding()
                self._disconnect(client)
        self._refuse_all("gateway closed")

    def _open(self) -> smpplib.client.Client | None:
        s = self.settings
        client = smpplib.client.Client(
            s.host,
            s.port,
            timeout=5,
            logger_name=WIRE_LOGGER,
            allow_unknown_opt_params=True,
        )
        try:
            client.connect()
            client.bind_transceiver(
                system_id=s.system_id, password=s.password, system_type=s.system_type
            )
        except LINK_ERRORS as exc:
            log.warning("smpp: bind to %s:%d failed: %r", s.host, s.port, exc)
            self._disconnect(client)
            return None
        log.info(
            "smpp: bound to %s:%d as %s (transceiver)", s.host, s.port, s.system_id
        )
        return client

    def _disconnect(self, client: smpplib.client.Client) -> None:
        try:
            if client.state == smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX:
                client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
        except LINK_ERRORS:
            pass
        client.disconnect()

    def _serve(self, client: smpplib.client.Client) -> None:
        sock = client._socket  # smpplib offers no public accessor
        last_traffic = time.monotonic()
        while not self._stopping.is_set():
            self._drain_incoming()
            now = time.monotonic()
            self._check_answers(now)
            self._submit_ready(client, now)

            timeout = 0.5
            if self._waiting and len(self._outstanding) < self.settings.window:
                timeout = min(timeout, max(self._hold_until - now, 0.0))
            readable, _, _ = select.select([sock, self._wake_r], [], [], timeout)
            if self._wake_r in readable:
                self._wake_r.recv(4096)
            if sock in readable:
                self._handle(client, client.read_pdu())
                last_traffic = time.monotonic()
            elif time.monotonic() - last_traffic > self.settings.enquire_link_s:
                client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
                last_traffic = time.monotonic()

    def _drain_incoming(self) -> None:
        while not self._incoming.empty():  # this thread is the only reader
            self._waiting.extend(self._incoming.get_nowait().parts)

    def _check_answers(self, now: float) -> None:
        for part, sent_at in self._outstanding.values():
            if now - sent_at > self.settings.response_timeout_s:
                raise _LinkDown(
                    f"no submit_sm_resp for {part.job.req.send_id} "
                    f"in {self.settings.response_timeout_s} s"
                )

    def _submit_ready(self, client: smpplib.client.Client, now: float) -> None:
        s = self.settings
        while (
            self._waiting
            and len(self._outstanding) < s.window
            and now >= self._hold_until
        ):
            part = self._waiting.popleft()
            if part.job.closed:
                continue
            pdu = client.send_message(
                source_addr_ton=s.source_addr_ton,
                source_addr_npi=s.source_addr_npi,
                source_addr=s.source_addr,
                dest_addr_ton=1 if part.job.req.address.startswith("+") else 0,
                dest_addr_npi=1,
                destination_addr=part.job.req.address.lstrip("+"),
                short_message=part.payload,
                data_coding=part.job.data_coding,
                # UDHI (0x40): the user data starts with a concatenation header.
                esm_class=0x40 if len(part.job.parts) > 1 else 0,
                registered_delivery=1,
            )
            self._outstanding[pdu.sequence] = (part, now)
            self.peak_outstanding = max(self.peak_outstanding, len(self._outstanding))

    def _requeue_outstanding(self) -> None:
        parts = [
            part for part, _ in sorted(self._outstanding.values(), key=lambda e: e[1])
        ]
        self._outstanding.clear()
        # XXX: a part the SMSC took just before the link dropped, without the
        # answer reaching us, is submitted again and may arrive twice.
        self._waiting.extendleft(reversed(parts))

    def _refuse_all(self, reason: str) -> None:
        self._drain_incoming()
        for part in list(self._waiting) + [p for p, _ in self._outstanding.values()]:
            self._finish(part.job, False, reason, retryable=True)
        self._waiting.clear()
        self._outstanding.clear()

    def _handle(self, client: smpplib.client.Client, pdu: Any) -> None:
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            entry = self._outstanding.pop(pdu.sequence, None)
            if entry is not None:
                self._answered(entry[0], int(pdu.status), pdu)
        elif command == "deliver_sm":
            self._reply(client, "deliver_sm_resp", pdu.sequence)
            self._delivered(pdu)
        elif command == "enquire_link":
            self._reply(client, "enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._reply(client, "unbind_resp", pdu.sequence)
            raise _LinkDown("the SMSC unbound")
        elif command != "enquire_link_resp":
            log.debug("smpp: ignored %s (status %s)", command, pdu.status)

    @staticmethod
    def _reply(client: smpplib.client.Client, command: str, sequence: int) -> None:
        answer = smpplib.smpp.make_pdu(command, client=client)
        answer.sequence = sequence
        client.send_pdu(answer)

    def _answered(self, part: _Part, status: int, pdu: Any) -> None:
        job, s = part.job, self.settings
        where = f"part {part.index + 1}/{len(job.parts)}"
        if status == smpplib.consts.SMPP_ESME_ROK:
            part.message_id = _text(getattr(pdu, "message_id", None)) or ""
            self._by_message_id[part.message_id] = part
            job.taken += 1
            if job.taken == len(job.parts):
                ids = ",".join(str(p.message_id) for p in job.parts)
                self._finish(job, True, f"accepted by the SMSC, message id {ids}")
            early = self._early.pop(part.message_id, None)
            if early is not None:
                self._part_state(part, *early)
            return

        name = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
        if status in TRANSIENT:
            part.attempts += 1
            if part.attempts > s.max_throttle_retries:
                self._finish(
                    job,
                    False,
                    f"SMSC still throttling {where} after "
                    f"{s.max_throttle_retries} retries: {name} (0x{status:02x})",
                    retryable=True,
                )
                return
            self._hold_until = time.monotonic() + s.throttle_delay_s * 2 ** (
                part.attempts - 1
            )
            self._waiting.appendleft(part)
            log.info("smpp: SMSC throttles (%s); pausing submits", name)
            return
        self._finish(job, False, f"SMSC refused {where}: {name} (0x{status:02x})")

    def _delivered(self, pdu: Any) -> None:
        if int(pdu.esm_class or 0) & 0x3C != 0x04:
            log.debug("smpp: ignored a mobile-originated message")
            return
        message_id, state, stat = receipt_state(pdu)
        if message_id is None:
            log.warning("smpp: delivery receipt without a message id")
            return
        part = self._by_message_id.get(message_id)
        if part is None:
            # The receipt overtook the submit_sm_resp that names this id.
            self._early[message_id] = (state, stat)
            return
        self._part_state(part, state, stat)

    def _part_state(self, part: _Part, state: ReceiptState, stat: str) -> None:
        if state == "unknown":
            return
        part.state = state
        job = part.job
        # XXX: an SMSC that reports on only some parts of a long text leaves
        # the job without a receipt; nothing expires it yet.
        if job.reported or any(p.state is None for p in job.parts):
            return
        job.reported = True
        worst = max(
            (p.state for p in job.parts if p.state), key=lambda st: _SEVERITY[st]
        )
        detail = (
            ", ".join(f"{p.message_id}:{p.state}" for p in job.parts) + f" ({stat})"
        )
        for p in job.parts:
            self._by_message_id.pop(str(p.message_id), None)
        receipt = Receipt(job.req.send_id, worst, self._clock(), self.name, detail)
        job.loop.call_soon_threadsafe(self.receipts.put_nowait, receipt)
