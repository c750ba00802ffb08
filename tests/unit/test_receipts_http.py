"""Kannel report types to receipt states, and the send id in the dlr-url."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from connectors.receipts_http import (
    ReceiptServer,
    decode_send_id,
    encode_send_id,
    kannel_receipt,
)

AT = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dlr_type", "answer", "state", "detail"),
    [
        (1, "", "delivered", "delivered"),
        (2, "", "failed", "non-delivered"),
        (
            2,
            "id:9 stat:EXPIRED err:000",
            "expired",
            "non-delivered: id:9 stat:EXPIRED err:000",
        ),
        (4, "", "unknown", "buffered"),
        (8, "ACK/", "unknown", "smsc-ack: ACK/"),
        (16, "NACK/0x0b", "failed", "smsc-reject: NACK/0x0b"),
    ],
)
def test_kannel_types(dlr_type: int, answer: str, state: str, detail: str):
    receipt = kannel_receipt("CAP-1/R1", dlr_type, answer, AT)
    assert (receipt.state, receipt.detail, receipt.at) == (state, detail, AT)


def test_unknown_type_is_refused():
    with pytest.raises(ValueError, match="type 3 is not one of 1, 2, 4, 8, 16"):
        kannel_receipt("CAP-1/R1", 3, "", AT)


@pytest.mark.parametrize(
    "send_id", ["ZQ-441223-20260601T0400Z-1/R0001", "a%d&b=c/LS-441223101V001", "雨/1"]
)
def test_send_id_survives_the_url_without_percent_signs(send_id: str):
    token = encode_send_id(send_id)
    assert "%" not in token and "&" not in token and "=" not in token
    assert decode_send_id(token) == send_id


def test_dlr_url_carries_token_send_and_kannel_placeholders():
    server = ReceiptServer(asyncio.Queue(), token="t" * 20, port=8123)
    url = server.dlr_url("CAP-1/R1")
    assert url.startswith(
        "http://127.0.0.1:8123/dlr/kannel?token=tttttttttttttttttttt&sid="
    )
    assert url.endswith("&type=%d&answer=%A")
    assert "%p" not in url  # the phone number stays out of the URL


def test_short_tokens_are_refused():
    with pytest.raises(ValueError, match="at least 16"):
        ReceiptServer(asyncio.Queue(), token="short")
