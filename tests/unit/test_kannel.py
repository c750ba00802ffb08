"""What the Kannel gateway asks smsbox for, and how it reads the answers."""

from __future__ import annotations

import asyncio

import pytest

from connectors.gateway import SendRequest
from connectors.kannel import KannelGateway, KannelSettings
from schemas.errors import ConfigError

SETTINGS = KannelSettings("http://127.0.0.1:13013/cgi-bin/sendsms", "ews", "pw")


def request(text: str) -> SendRequest:
    return SendRequest("CAP-1/R1", "sms", "R1", "+99900000000001", text, "zh-CN")


def gateway() -> KannelGateway:
    return KannelGateway(SETTINGS, lambda sid: f"http://127.0.0.1:1/dlr?sid={sid}&t=%d")


def test_chinese_goes_with_coding_2_and_utf8():
    query = gateway().query(request("暴雨红色预警"))
    assert (query["coding"], query["charset"]) == ("2", "UTF-8")
    assert query["text"] == "暴雨红色预警"
    assert query["dlr-mask"] == "31"
    assert query["dlr-url"] == "http://127.0.0.1:1/dlr?sid=CAP-1/R1&t=%d"


def test_ascii_goes_with_the_default_coding():
    assert "coding" not in gateway().query(request("EWS drill"))


@pytest.mark.parametrize(
    ("status", "body", "accepted", "retryable", "words"),
    [
        (202, "0: Accepted for delivery", True, False, "Accepted"),
        (202, "3: Queued for later delivery", True, False, "Queued"),
        (403, "Authorization failed for sendsms", False, False, "credentials (403)"),
        (400, "Missing receiver number", False, False, "rejected the request (400)"),
        (503, "Sending failed", False, True, "failed (503)"),
        (404, "Not found", False, False, "answered 404"),
    ],
)
def test_answers(status: int, body: str, accepted: bool, retryable: bool, words: str):
    result = gateway()._interpret(request("x"), status, body)
    assert (result.accepted, result.retryable) == (accepted, retryable)
    assert words in result.reason and body in result.reason


def test_a_text_longer_than_max_parts_is_refused_before_kannel():
    gw = KannelGateway(
        KannelSettings(SETTINGS.sendsms_url, "ews", "pw", max_parts=2), None
    )
    result = asyncio.run(gw.send(request("雨" * 135)))  # 3 UCS-2 parts
    assert not result.accepted
    assert "3 SMS parts" in result.reason and "at most 2" in result.reason


def test_settings_are_checked_and_hide_the_password():
    with pytest.raises(ConfigError, match="not an http"):
        KannelSettings("127.0.0.1:13013", "ews", "pw")
    assert "pw" not in repr(KannelSettings(SETTINGS.sendsms_url, "ews", "pw"))
