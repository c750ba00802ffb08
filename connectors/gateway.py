"""What every dissemination gateway offers: send requests, results and receipts.

A gateway takes one :class:`SendRequest` (one recipient phone or one
loudspeaker topic) and answers with a :class:`SendResult` as soon as the
gateway has taken the message or refused it. What happens after that arrives
later, as :class:`Receipt` objects put on an ``asyncio.Queue`` the gateway was
given (delivered or failed for SMS, played for a loudspeaker)::

    receipts: asyncio.Queue[Receipt] = asyncio.Queue()
    gateway = KannelGateway(settings, receipts)
    await gateway.start()
    result = await gateway.send(request)      # accepted or refused, with reason
    receipt = await receipts.get()            # later: delivered / failed / ...
    await gateway.close()

A refused send (``accepted=False``) gets no receipt: its result is final,
and ``retryable`` says whether trying again later may help.

``send_id`` is derived from the CAP identifier and the recipient or
loudspeaker id only (:func:`make_send_id`), so a dispatcher that sends again
after a restart produces the same id and the receipts of both attempts land
on the same target.

:class:`TokenBucket` is the throughput limit the SMS gateways share: ``rate``
messages per second on average with bursts of ``burst``; the clock and the
sleep are injected so tests can drive it without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from schemas.errors import ConfigError

Channel = Literal["sms", "loudspeaker"]
ReceiptState = Literal["delivered", "failed", "played", "expired", "unknown"]

CHANNELS: tuple[Channel, ...] = ("sms", "loudspeaker")
RECEIPT_STATES: tuple[ReceiptState, ...] = (
    "delivered",
    "failed",
    "played",
    "expired",
    "unknown",
)
FINAL_STATES = frozenset({"delivered", "failed", "played", "expired"})


def make_send_id(identifier: str, target_id: str) -> str:
    """Return the send id of one CAP alert to one recipient or loudspeaker."""
    if not identifier or not target_id:
        raise ValueError(
            f"send id needs a CAP identifier and a target id, got "
            f"{identifier!r} and {target_id!r}"
        )
    return f"{identifier}/{target_id}"


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC (the gateways' receipt clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SendRequest:
    """One message to one phone number or one loudspeaker topic.

    ``address`` stays out of ``repr``, so logging a request leaks no number.
    """

    send_id: str
    channel: Channel
    target_id: str
    address: str = field(repr=False)  # a phone number is personal data
    text: str
    language: str
    audio_path: Path | None = None
    exercise: bool = False

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(
                f"send {self.send_id}: channel {self.channel!r} is not one of "
                f"{', '.join(CHANNELS)}"
            )
        if not self.address:
            raise ValueError(f"send {self.send_id}: empty address")


@dataclass(frozen=True)
class SendResult:
    """Whether a gateway took a message; ``retryable`` when refusal is temporary."""

    send_id: str
    accepted: bool
    gateway: str
    reason: str
    retryable: bool = False


@dataclass(frozen=True)
class Receipt:
    """What became of a message that a gateway took."""

    send_id: str
    state: ReceiptState
    at: datetime
    gateway: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.state not in RECEIPT_STATES:
            raise ValueError(
                f"receipt {self.send_id}: state {self.state!r} is not one of "
                f"{', '.join(RECEIPT_STATES)}"
            )

    @property
    def final(self) -> bool:
        """True if no later receipt is expected (delivered, failed, played, expired)."""
        return self.state in FINAL_STATES


@runtime_checkable
class Gateway(Protocol):
    """The async interface of every gateway (Kannel, SMPP, MQTT, dry run)."""

    name: str
    channel: Channel

    async def start(self) -> None:
        """Connect and get ready to send."""

    async def send(self, req: SendRequest) -> SendResult:
        """Hand one message to the gateway; receipts follow on the queue."""

    async def close(self) -> None:
        """Stop sending and release connections."""


@dataclass
class TokenBucket:
    """A throughput limit: ``rate`` per second on average, bursts up to ``burst``.

    Parameters
    ----------
    rate : float
        Sustained rate, messages per second (> 0).
    burst : float
        Bucket size, messages; the bucket starts full.
    clock : callable
        Monotonic clock in seconds.
    sleep : callable
        Async sleep in seconds.
    """

    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigError(
                f"throughput limit: rate must be > 0 messages/s and burst >= 1, "
                f"got rate={self.rate} burst={self.burst}"
            )
        self._tokens = self.burst
        self._stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, cost: float = 1.0) -> float:
        """Wait until ``cost`` tokens are there and take them; return seconds waited.

        A cost larger than the bucket is allowed: it drives the bucket negative
        and later callers wait it off.
        """
        waited = 0.0
        async with self._lock:
            self._refill()
            need = min(cost, self.burst)
            while self._tokens < need:
                delay = (need - self._tokens) / self.rate
                await self.sleep(delay)
                waited += delay
                self._refill()
            self._tokens -= cost
        return waited
