"""Kannel sendsms against real bearerbox + smsbox + fakesmsc on loopback."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from connectors.gateway import Receipt, SendRequest, SendResult, TokenBucket
from connectors.kannel import KannelGateway, KannelSettings
from connectors.receipts_http import ReceiptServer
from tests.integration.conftest import KannelRig, collect_receipts, wait_for

pytestmark = pytest.mark.integration

TOKEN = "receipt-token-for-tests-0123456789"
# 90 characters: more than one UCS-2 SMS (70), so two parts of at most 67.
CHINESE_90 = (
    "【演习】肇庆市气象台发布暴雨红色预警信号：预计未来三小时端州区、鼎湖区将出现"
    "一百毫米以上降雨，请立即转移到安全地带，远离河道和山坡，注意防范山洪、泥石流和"
    "城乡积涝灾害，学校应停课。"
)
SHORT_ASCII = "EWS drill: rainstorm red, Duanzhou"


def sms(n: int, text: str, cap: str = "CAP-TEST-1") -> SendRequest:
    return SendRequest(
        send_id=f"{cap}/R{n:04d}",
        channel="sms",
        target_id=f"R{n:04d}",
        address=f"+9990{n:010d}",
        text=text,
        language="zh-CN",
        exercise=True,
    )


async def send_all(
    rig: KannelRig, requests: list[SendRequest], **settings: float
) -> tuple[list[SendResult], list[Receipt], ReceiptServer]:
    queue: asyncio.Queue[Receipt] = asyncio.Queue()
    server = ReceiptServer(queue, token=TOKEN)
    await server.start()
    gateway = KannelGateway(
        KannelSettings(rig.sendsms_url, rig.username, rig.password, **settings),
        server.dlr_url,
    )
    try:
        results = [await gateway.send(r) for r in requests]
        wanted = {r.send_id for r, res in zip(requests, results, strict=True)}
        receipts = await collect_receipts(
            queue,
            lambda got: wanted <= {r.send_id for r in got if r.state == "delivered"},
        )
    finally:
        await gateway.close()
        await server.close()
    return results, receipts, server


def test_chinese_text_of_90_characters_arrives_as_two_ucs2_parts(kannel: KannelRig):
    assert len(CHINESE_90) == 90
    request = sms(1, CHINESE_90)

    results, receipts, _ = asyncio.run(send_all(kannel, [request]))

    assert results[0].accepted, results[0].reason
    parts = [m for m in kannel.delivered() if m.receiver == request.address]
    assert len(parts) == 2
    # UDH: length 5, IEI 0 (concatenation, 8-bit reference), length 3, ref,
    # total 2, sequence 1 and 2.
    assert [p.udh[:3] for p in parts] == [b"\x05\x00\x03"] * 2
    assert parts[0].udh[3] == parts[1].udh[3]
    assert [p.udh[4:] for p in parts] == [b"\x02\x01", b"\x02\x02"]
    assert [len(p.data) for p in parts] == [67 * 2, 23 * 2]
    assert "".join(p.text() for p in parts) == CHINESE_90
    # One delivery report for the whole concatenated message.
    assert [r.state for r in receipts if r.send_id == request.send_id].count(
        "delivered"
    ) == 1


def test_short_texts_go_as_gsm_or_single_ucs2_and_are_reported(
    kannel: KannelRig, caplog: pytest.LogCaptureFixture
):
    ascii_request, chinese_request = sms(2, SHORT_ASCII), sms(3, "暴雨红色预警，请转移")

    with caplog.at_level(logging.DEBUG):
        results, receipts, server = asyncio.run(
            send_all(kannel, [ascii_request, chinese_request])
        )

    assert all(r.accepted for r in results)
    by_receiver = {m.receiver: m for m in kannel.delivered()}
    assert by_receiver[ascii_request.address].kind == "text"
    assert by_receiver[ascii_request.address].text() == SHORT_ASCII
    assert by_receiver[chinese_request.address].kind == "ucs-2"
    assert by_receiver[chinese_request.address].udh == b""
    assert by_receiver[chinese_request.address].text() == "暴雨红色预警，请转移"

    states = {(r.send_id, r.state, r.detail.split(":")[0]) for r in receipts}
    for request in (ascii_request, chinese_request):
        assert (request.send_id, "delivered", "delivered") in states
    assert server.counts["forbidden"] == server.counts["bad"] == 0
    # Logged at DEBUG, masked: no full number in any line.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "+99900*****0002" in logged
    assert ascii_request.address not in logged
    assert chinese_request.address.lstrip("+") not in logged


def test_wrong_password_is_refused_clearly(kannel: KannelRig):
    async def run() -> tuple[SendResult, SendResult]:
        queue: asyncio.Queue[Receipt] = asyncio.Queue()
        server = ReceiptServer(queue, token=TOKEN)
        await server.start()
        bad = KannelGateway(
            KannelSettings(kannel.sendsms_url, kannel.username, "not-the-password"),
            server.dlr_url,
        )
        good = KannelGateway(
            KannelSettings(kannel.sendsms_url, kannel.username, kannel.password),
            server.dlr_url,
        )
        refused = await bad.send(sms(4, SHORT_ASCII))
        accepted = await good.send(sms(5, SHORT_ASCII))
        await collect_receipts(
            queue, lambda got: any(r.state == "delivered" for r in got)
        )
        for gw in (bad, good):
            await gw.close()
        await server.close()
        return refused, accepted

    refused, accepted = asyncio.run(run())

    assert not refused.accepted
    assert not refused.retryable
    assert "403" in refused.reason and "credentials" in refused.reason
    assert accepted.accepted
    # The good message came through after the refused one; the refused did not.
    receivers = [m.receiver for m in kannel.delivered()]
    assert sms(5, "").address in receivers
    assert sms(4, "").address not in receivers


def test_throughput_limit_spaces_the_messages(kannel: KannelRig):
    rate, count = 4.0, 9
    stamps: list[float] = []

    async def run() -> list[SendResult]:
        queue: asyncio.Queue[Receipt] = asyncio.Queue()
        server = ReceiptServer(queue, token=TOKEN)
        await server.start()
        gateway = KannelGateway(
            KannelSettings(kannel.sendsms_url, kannel.username, kannel.password),
            server.dlr_url,
            bucket=TokenBucket(rate=rate, burst=1),
        )

        async def one(n: int) -> SendResult:
            result = await gateway.send(sms(100 + n, SHORT_ASCII))
            stamps.append(time.monotonic())
            return result

        results = await asyncio.gather(*(one(n) for n in range(count)))
        await wait_for(lambda: len(kannel.delivered()) >= count, "all messages")
        await gateway.close()
        await server.close()
        return list(results)

    results = asyncio.run(run())

    assert all(r.accepted for r in results)
    assert len(kannel.delivered()) == count
    # With a bucket of one token, message k waits until k / rate seconds.
    span = max(stamps) - min(stamps)
    assert span >= (count - 1) / rate * 0.98
