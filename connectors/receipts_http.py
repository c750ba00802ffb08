"""The HTTP endpoint that Kannel calls back with delivery reports.

Kannel's smsbox fetches the ``dlr-url`` of a message each time the SMSC
reports on it, after replacing ``%d`` with the report type and ``%A`` with
the SMSC's answer. :meth:`ReceiptServer.dlr_url` builds that URL: it names
the send (its id in URL-safe base64, so Kannel's own ``%`` escapes cannot
clash with it) and carries a shared secret token, checked on every call. The
phone number is left out of the URL, so it appears in no access log.

Report types and the :class:`~connectors.gateway.Receipt` states they map to:

====  ================  =========================================
type  Kannel meaning    receipt
====  ================  =========================================
1     delivered         ``delivered``
2     non-delivered     ``failed`` (``expired`` if the answer says so)
4     buffered (queued) ``unknown``, detail ``buffered``
8     SMSC accepted     ``unknown``, detail ``smsc-ack``
16    SMSC rejected     ``failed``, detail ``smsc-reject``
====  ================  =========================================

Answers: 200 for a report taken, 403 for a wrong or missing token, 400 for a
report that names no send or an unknown type. The server binds to
127.0.0.1 unless told otherwise and keeps no access log (the URL holds the
token).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from connectors.gateway import Receipt, ReceiptState, utc_now

log = logging.getLogger(__name__)

KANNEL_PATH = "/dlr/kannel"
KANNEL_TYPES: dict[int, tuple[ReceiptState, str]] = {
    1: ("delivered", "delivered"),
    2: ("failed", "non-delivered"),
    4: ("unknown", "buffered"),
    8: ("unknown", "smsc-ack"),
    16: ("failed", "smsc-reject"),
}


def encode_send_id(send_id: str) -> str:
    """Return ``send_id`` as URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(send_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_send_id(token: str) -> str:
    """Invert :func:`encode_send_id`; raise ValueError on anything else."""
    padded = token + "=" * (-len(token) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError(f"send id {token!r} is not URL-safe base64") from exc


def kannel_receipt(
    send_id: str, dlr_type: int, answer: str, at: datetime, gateway: str = "kannel"
) -> Receipt:
    """Turn one Kannel delivery report into a :class:`Receipt`."""
    if dlr_type not in KANNEL_TYPES:
        raise ValueError(
            f"Kannel report type {dlr_type} is not one of "
            f"{', '.join(str(t) for t in KANNEL_TYPES)}"
        )
    state, detail = KANNEL_TYPES[dlr_type]
    if dlr_type == 2 and "EXPIRED" in answer.upper():
        state = "expired"
    if answer:
        detail = f"{detail}: {answer}"
    return Receipt(send_id=send_id, state=state, at=at, gateway=gateway, detail=detail)


class ReceiptServer:
    """A small aiohttp server that turns Kannel reports into receipts on a queue."""

    def __init__(
        self,
        receipts: asyncio.Queue[Receipt],
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if len(token) < 16:
            raise ValueError("receipt token must be at least 16 characters long")
        self.receipts = receipts
        self._token = token
        self.host = host
        self.port = port
        self._public_url = public_url
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self.counts: dict[str, int] = {"taken": 0, "forbidden": 0, "bad": 0}

    @property
    def base_url(self) -> str:
        """The URL Kannel reaches the server at (``public_url`` if given)."""
        return self._public_url or f"http://{self.host}:{self.port}"

    def dlr_url(self, send_id: str) -> str:
        """Return the ``dlr-url`` for one send, with Kannel's %d and %A in it."""
        query = urlencode({"token": self._token, "sid": encode_send_id(send_id)})
        return f"{self.base_url}{KANNEL_PATH}?{query}&type=%d&answer=%A"

    async def start(self) -> None:
        """Bind and serve; with ``port=0`` the system picks a free port."""
        app = web.Application()
        app.router.add_get(KANNEL_PATH, self._kannel)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        log.info("receipt endpoint listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _kannel(self, request: web.Request) -> web.Response:
        token = request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            self.counts["forbidden"] += 1
            log.warning("delivery report refused: wrong or missing token")
            return web.Response(status=403, text="forbidden: wrong token\n")

        try:
            send_id = decode_send_id(request.query.get("sid", ""))
            if not send_id:
                raise ValueError("the report names no send (sid is empty)")
            dlr_type = int(request.query.get("type", ""))
            receipt = kannel_receipt(
                send_id, dlr_type, request.query.get("answer", ""), self._clock()
            )
        except ValueError as exc:
            self.counts["bad"] += 1
            log.warning("delivery report rejected: %s", exc)
            return web.Response(status=400, text=f"bad report: {exc}\n")

        self.counts["taken"] += 1
        log.debug("delivery report %s: %s", send_id, receipt.state)
        await self.receipts.put(receipt)
        return web.Response(status=200, text="ok\n")
