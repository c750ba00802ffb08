"""Dead letters: records that could not be used, kept with their reason.

A record that fails to decode, fails its schema, carries an impossible
value or a future timestamp is never dropped: it becomes a
``deadletter/1`` message with the source, the reason in words, its class
(``parse``, ``schema``, ``unit``, ``physical``, ``future``, ``unknown``,
``cap``, ``bug``), the original bytes (base64) and where it came from, and
the worker goes on with the next record. :func:`dead_letter` builds the
message; the agents publish it and count it.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.errors import EwsError

MAX_ORIGINAL_BYTES = 512 * 1024


def reason_class(exc: BaseException) -> str:
    """The class of failure an exception stands for."""
    if isinstance(exc, EwsError):
        return getattr(exc, "reason_class", "input")
    return "bug"


def dead_letter(
    *,
    source: str,
    exc: BaseException,
    original: bytes | None,
    now: datetime,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    """A ``deadletter/1`` message for a record that failed with ``exc``.

    Parameters
    ----------
    source : str
        Who found the fault: an agent or connector name.
    exc : BaseException
        The failure; its message is the reason.
    original : bytes or None
        The record as received. Payloads over 512 KiB keep their first
        512 KiB and say so in the reason.
    now : datetime
        When the fault was found (aware).
    topic, partition, offset : optional
        Where the record was read from.
    """
    raw = original or b""
    reason = str(exc) or type(exc).__name__
    if len(raw) > MAX_ORIGINAL_BYTES:
        reason += f" (original truncated from {len(raw)} bytes)"
        raw = raw[:MAX_ORIGINAL_BYTES]
    return {
        "schema": "deadletter/1",
        "source": source,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason[:2000],
        "reason_class": reason_class(exc),
        "original_b64": base64.b64encode(raw).decode("ascii"),
        "time": now.astimezone(UTC).isoformat(timespec="seconds"),
    }


def from_rejection(
    rejection: Any, *, feed: str, topic: str, now: datetime
) -> dict[str, Any]:
    """A ``deadletter/1`` message for a reading a connector refused.

    ``rejection`` is a :class:`models.quality.Rejection`. When it names a
    whole file (a radar frame that does not decode) the file's bytes are the
    original; otherwise the reading's place in its file stands in for them.
    """
    where = Path(rejection.where)
    raw = rejection.where.encode()
    if where.is_file():
        raw = where.read_bytes()[:MAX_ORIGINAL_BYTES]
    return {
        "schema": "deadletter/1",
        "source": f"replay:{feed}",
        "topic": topic,
        "partition": None,
        "offset": None,
        "reason": f"{rejection.where}: {rejection.reason}"[:2000],
        "reason_class": rejection.reason_class,
        "original_b64": base64.b64encode(raw).decode("ascii"),
        "time": now.astimezone(UTC).isoformat(timespec="seconds"),
    }
