"""SMS through Kannel's HTTP ``sendsms`` interface.

One :class:`SendRequest` becomes one GET on smsbox's ``/cgi-bin/sendsms``.
Pure ASCII text goes as GSM 7 (Kannel's default coding); any other text goes
as UCS-2, which takes both ``coding=2`` and ``charset=UTF-8``: without
``coding=2`` Kannel sends GSM 7 and Chinese arrives as question marks, and
``coding=2`` alone makes Kannel read the UTF-8 bytes as UCS-2. Long texts
are split by Kannel itself (``concatenation = true`` in the sendsms-user
group); :func:`models.sms_text.count_parts` says how many parts that makes,
and a text that needs more than ``max_parts`` (Kannel's ``max-messages``) is
refused here rather than cut by Kannel.

Every send asks for all reports (``dlr-mask=31``) at a ``dlr-url`` from
:class:`connectors.receipts_http.ReceiptServer`, which puts the receipts on
its queue. The throughput limit is a :class:`~connectors.gateway.TokenBucket`
counted in SMS parts, the unit SMSC contracts count in.

Kannel's answers and what :meth:`KannelGateway.send` makes of them:

==========================  =====================================
answer                      result
==========================  =====================================
202 ``0: Accepted ...``     accepted
202 ``3: Queued ...``       accepted (Kannel holds it until the SMSC is back)
403                         refused, credentials wrong (not retryable)
400                         refused, request malformed (not retryable)
5xx, no connection          refused, retryable
==========================  =====================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from connectors.gateway import SendRequest, SendResult, TokenBucket
from models.channels import mask_phone
from models.sms_text import count_parts
from schemas.errors import ConfigError

log = logging.getLogger(__name__)

DLR_ALL = 31


@dataclass(frozen=True)
class KannelSettings:
    """Where smsbox's sendsms interface is and how to use it.

    ``rate_per_s`` and ``burst`` are SMS parts per second and parts;
    ``max_parts`` must not exceed the sendsms-user's ``max-messages``.
    """

    sendsms_url: str
    username: str
    password: str = field(repr=False)
    sender: str = "12121"
    smsc_id: str | None = None
    rate_per_s: float = 10.0
    burst: float = 10.0
    max_parts: int = 10
    dlr_mask: int = DLR_ALL
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.sendsms_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"kannel sendsms_url {self.sendsms_url!r} is not an http(s) URL"
            )
        if not 1 <= self.max_parts <= 255:
            raise ConfigError(f"kannel max_parts {self.max_parts} is outside 1..255")


class KannelGateway:
    """An SMS gateway that hands messages to Kannel's smsbox over HTTP."""

    name = "kannel"
    channel = "sms"

    def __init__(
        self,
        settings: KannelSettings,
        dlr_url: Callable[[str], str] | None,
        *,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.settings = settings
        self._dlr_url = dlr_url
        self.bucket = bucket or TokenBucket(settings.rate_per_s, settings.burst)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP client session."""
        if self._session is None:
            # A connection that cannot be made fails in half the time, as
            # ClientConnectorError or ConnectionTimeoutError: nothing went out.
            timeout = aiohttp.ClientTimeout(
                total=self.settings.timeout_s, sock_connect=self.settings.timeout_s / 2
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
            # aiohttp sends a GET again, once, when the link drops after the
            # request went out; smsbox may have queued the first, so the phone
            # could get it twice. The flag is private (aiohttp 3.14 offers no
            # public switch); without it a dropped link is retried by aiohttp.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False

    async def close(self) -> None:
        """Close the HTTP client session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def query(self, req: SendRequest) -> dict[str, str]:
        """Return the sendsms parameters of ``req`` (the password among them)."""
        s = self.settings
        params = {
            "username": s.username,
            "password": s.password,
            "from": s.sender,
            "to": req.address,
            "text": req.text,
            "charset": "UTF-8",
        }
        if count_parts(req.text).encoding == "ucs2":
            params["coding"] = "2"
        if s.smsc_id:
            params["smsc"] = s.smsc_id
        if self._dlr_url is not None:
            params["dlr-mask"] = str(s.dlr_mask)
            params["dlr-url"] = self._dlr_url(req.send_id)
        return params

    def _result(
        self, req: SendRequest, accepted: bool, reason: str, **kw: bool
    ) -> SendResult:
        return SendResult(req.send_id, accepted, self.name, reason, **kw)

    async def send(self, req: SendRequest) -> SendResult:
        """Send one SMS; wait for the throughput limit, then for Kannel's answer."""
        if req.channel != "sms":
            return self._result(req, False, f"kannel sends SMS, not {req.channel}")
        parts = count_parts(req.text)
        if parts.parts > self.settings.max_parts:
            reason = (
                f"text needs {parts.parts} SMS parts ({parts.units} "
                f"{parts.encoding} units); at most {self.settings.max_parts} allowed"
            )
            log.warning("kannel: %s refused: %s", req.send_id, reason)
            return self._result(req, False, reason)

        await self.start()
        assert self._session is not None
        await self.bucket.acquire(parts.parts)
        try:
            async with self._session.get(
                self.settings.sendsms_url, params=self.query(req)
            ) as response:
                status, body = response.status, (await response.text()).strip()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            reason = f"kannel unreachable: {type(exc).__name__}: {exc}"
            log.warning("kannel: %s not sent: %s", req.send_id, reason)
            return self._result(req, False, reason, retryable=True)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return self._unanswered(req, exc)

        result = self._interpret(req, status, body)
        log.debug(
            "kannel: %s to %s (%d %s part(s)): %s",
            req.send_id,
            mask_phone(req.address),
            parts.parts,
            parts.encoding,
            result.reason,
        )
        if not result.accepted:
            log.warning("kannel: %s refused: %s", req.send_id, result.reason)
        return result

    def _unanswered(self, req: SendRequest, exc: BaseException) -> SendResult:
        """The request went out but no answer came (a timeout, a dropped link).

        smsbox may have queued the message all the same. With delivery
        reports asked for, the send counts as taken: its report, or the
        dispatcher's receipt timeout when none comes, decides whether it is
        sent again, so a phone does not get it twice. Without reports
        nothing would ever tell, and it is refused as retryable.
        """
        what = f"no answer from kannel: {type(exc).__name__}: {exc}"
        if self._dlr_url is None:
            log.warning("kannel: %s not known sent: %s", req.send_id, what)
            return self._result(req, False, what, retryable=True)
        log.warning("kannel: %s taken as sent, report to decide: %s", req.send_id, what)
        return self._result(req, True, f"{what}; the delivery report decides")

    def _interpret(self, req: SendRequest, status: int, body: str) -> SendResult:
        if status == 202:
            return self._result(req, True, body or "accepted")
        if status == 403:
            return self._result(
                req, False, f"kannel refused the credentials (403): {body}"
            )
        if status == 400:
            return self._result(
                req, False, f"kannel rejected the request (400): {body}"
            )
        if status >= 500:
            return self._result(
                req, False, f"kannel failed ({status}): {body}", retryable=True
            )
        return self._result(req, False, f"kannel answered {status}: {body}")
