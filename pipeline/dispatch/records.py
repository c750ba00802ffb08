"""The dispatcher's records: send ids, message texts, orders and receipts.

A send is one alert to one target in one wave. Its id is derived from its
input only: :func:`connectors.gateway.make_send_id` of the CAP identifier
and the target id for wave 1, with ``#w<wave>`` after it for later waves,
so a re-planned wave produces the same ids and every attempt has its own.

The text of a message comes from the alert itself: the ``headline`` and
the ``instruction`` of the ``info`` in the target's language (Mandarin and
Cantonese targets read the ``zh-CN`` info, English ones the ``en`` info),
led by 【演练】 / [EXERCISE] or 【测试】 / [TEST] when the alert is not
``Actual``.

A receipt's detail is free text from a gateway; :func:`scrub` masks any
run of digits long enough to be a phone number before it is written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.gateway import make_send_id
from models.channels import mask_phone
from models.targeting import Target

MARKS = {
    "Exercise": {"zh-CN": "【演练】", "en": "[EXERCISE] "},
    "Test": {"zh-CN": "【测试】", "en": "[TEST] "},
}
NUMBER_RE = re.compile(r"\+?\d{7,15}")
FINAL_STATES = frozenset(
    {"delivered", "failed", "played", "expired", "refused", "timeout", "skipped"}
)


def iso(t: datetime) -> str:
    """ISO-8601 UTC with milliseconds (dispatch records time sub-second steps)."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return t


def scrub(text: str) -> str:
    """``text`` with every run of 7 to 15 digits masked like a phone number."""
    return NUMBER_RE.sub(lambda m: mask_phone(m.group(0)), text)


def send_id_for(identifier: str, target_id: str, wave: int) -> str:
    """The send id of ``identifier`` to ``target_id`` in ``wave``."""
    base = make_send_id(identifier, target_id)
    return base if wave == 1 else f"{base}#w{wave}"


def split_send_id(send_id: str) -> tuple[str, str, int]:
    """``(identifier, target_id, wave)`` of a send id; ValueError if malformed."""
    identifier, slash, rest = send_id.rpartition("/")
    if not slash or not identifier or not rest:
        raise ValueError(f"send id {send_id!r} is not identifier/target")
    target_id, hash_, wave_text = rest.partition("#w")
    if hash_ and not wave_text.isdigit():
        raise ValueError(f"send id {send_id!r} has a malformed wave suffix")
    return identifier, target_id, int(wave_text) if hash_ else 1


def alert_texts(alert: Any) -> dict[str, str]:
    """Message text per info language of a :class:`CapAlert` (zh-CN, en)."""
    texts: dict[str, str] = {}
    marks = MARKS.get(alert.status, {})
    for info in alert.infos:
        language = "en" if info.language.lower().startswith("en") else "zh-CN"
        if language in texts:
            continue
        sep = "：" if language == "zh-CN" else ": "
        body = sep.join(p for p in (info.headline, info.instruction) if p)
        body = body or info.description or info.event
        texts[language] = marks.get(language, "") + body
    return texts


def text_for(texts: dict[str, str], language: str) -> tuple[str, str]:
    """``(text, language of the text)`` for a target's language."""
    want = "en" if language == "en" else "zh-CN"
    if want in texts:
        return texts[want], want
    other = next(iter(texts))
    return texts[other], other


def order(
    plan: dict[str, Any],
    target: Target,
    route: str,
    wave: int,
    now: datetime,
) -> dict[str, Any]:
    """The ``dispatch_order/1`` record of one send."""
    text, _ = text_for(plan["texts"], target.language)
    return {
        "schema": "dispatch_order/1",
        "send_id": send_id_for(plan["identifier"], target.target_id, wave),
        "identifier": plan["identifier"],
        "warning_id": plan["warning_id"],
        "msgType": plan["msgType"],
        "status": plan["status"],
        "target_id": target.target_id,
        "channel": target.channel,
        "route": route,
        "wave": wave,
        "village_id": target.village_id,
        "language": target.language,
        "text": text,
        "exercise": plan["status"] != "Actual",
        "planned_at": iso(now),
        "deadline": plan["deadline"],
    }


def receipt(
    *,
    send_id: str,
    state: str,
    at: datetime,
    gateway: str,
    detail: str = "",
    entry: dict[str, Any] | None = None,
    retryable: bool = True,
) -> dict[str, Any]:
    """The ``receipt/1`` record of one report on a send.

    ``entry`` is the send's ledger entry; without one, the identifier and
    target come from the send id and the warning id stays null.
    """
    identifier, target_id, wave = split_send_id(send_id)
    entry = entry or {}
    return {
        "schema": "receipt/1",
        "send_id": send_id,
        "identifier": entry.get("identifier", identifier),
        "warning_id": entry.get("warning_id"),
        "target_id": entry.get("target_id", target_id),
        "channel": entry.get("channel"),
        "wave": entry.get("wave", wave),
        "state": state,
        "final": state in FINAL_STATES,
        "retryable": retryable,
        "at": iso(at),
        "gateway": gateway,
        "detail": scrub(detail[:500]),
    }
