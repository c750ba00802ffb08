"""SMPP 3.4 gateway against the smpp34 SMSC simulator on loopback.

The simulator answers by the last digit of the destination (see
smpp_simulator.py): 9 invalid destination, 8 throttled twice, 7 undelivered,
6 expired, 5 drops the link when asked, anything else delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from connectors.gateway import Receipt, SendRequest, SendResult
from connectors.smpp import SmppGateway, SmppSettings
from tests.integration.conftest import SmppSimulator, collect_receipts, wait_for

pytestmark = pytest.mark.integration

T = TypeVar("T")
CHINESE_90 = (
    "【演习】肇庆市气象台发布暴雨红色预警信号：预计未来三小时端州区、鼎湖区将出现"
    "一百毫米以上降雨，请立即转移到安全地带，远离河道和山坡，注意防范山洪、泥石流和"
    "城乡积涝灾害，学校应停课。"
)


def sms(number: str, text: str = "EWS drill test") -> SendRequest:
    return SendRequest(
        send_id=f"CAP-SMPP/{number}",
        channel="sms",
        target_id=number,
        address=f"+999{number}",
        text=text,
        language="zh-CN",
        exercise=True,
    )


def run_with_gateway(
    sim: SmppSimulator,
    body: Callable[[SmppGateway, asyncio.Queue[Receipt]], Awaitable[T]],
    **settings: float,
) -> T:
    async def run() -> T:
        receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        gateway = SmppGateway(
            SmppSettings("127.0.0.1", sim.port, "ews", "any", **settings),  # type: ignore[arg-type]
            receipts,
        )
        await gateway.start()
        await asyncio.wait_for(gateway.wait_bound(), 60)
        try:
            return await body(gateway, receipts)
        finally:
            await gateway.close()

    return asyncio.run(run())


def final_for(send_ids: set[str]) -> Callable[[list[Receipt]], bool]:
    return lambda got: send_ids <= {r.send_id for r in got if r.final}


def test_long_chinese_text_goes_as_two_ucs2_parts_with_one_receipt(
    smpp_simulator: SmppSimulator,
):
    request = sms("0000000001", CHINESE_90)

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> tuple:
        result = await gw.send(request)
        return result, await collect_receipts(q, final_for({request.send_id}))

    result, receipts = run_with_gateway(smpp_simulator, body)

    assert result.accepted, result.reason
    submits = smpp_simulator.events("submit")
    assert [s["destination"] for s in submits] == ["9990000000001"] * 2
    assert {
        (s["data_coding"], s["esm_class"], s["registered_delivery"]) for s in submits
    } == {(8, 0x40, 1)}
    payloads = [bytes.fromhex(str(s["short_message"])) for s in submits]
    assert [p[:3] for p in payloads] == [b"\x05\x00\x03"] * 2
    assert [p[4:6] for p in payloads] == [b"\x02\x01", b"\x02\x02"]
    assert [len(p) - 6 for p in payloads] == [67 * 2, 23 * 2]
    assert "".join(p[6:].decode("utf-16-be") for p in payloads) == CHINESE_90
    mine = [r for r in receipts if r.send_id == request.send_id]
    assert [r.state for r in mine] == ["delivered"]


def test_ascii_text_goes_as_one_gsm_part(smpp_simulator: SmppSimulator):
    request = sms("0000000002", "EWS drill: rainstorm red")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> SendResult:
        result = await gw.send(request)
        await collect_receipts(q, final_for({request.send_id}))
        return result

    assert run_with_gateway(smpp_simulator, body).accepted
    (submit,) = smpp_simulator.events("submit")
    assert (submit["data_coding"], submit["esm_class"]) == (0, 0)
    assert bytes.fromhex(str(submit["short_message"])) == b"EWS drill: rainstorm red"


def test_receipt_states_map_to_delivered_failed_expired(
    smpp_simulator: SmppSimulator, caplog: pytest.LogCaptureFixture
):
    requests = [sms("0000000003"), sms("0000000007"), sms("0000000006")]
    caplog.set_level(logging.DEBUG)

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> list[Receipt]:
        results = await asyncio.gather(*(gw.send(r) for r in requests))
        assert all(r.accepted for r in results)
        return await collect_receipts(q, final_for({r.send_id for r in requests}))

    states = {r.send_id: r.state for r in run_with_gateway(smpp_simulator, body)}
    assert [states[r.send_id] for r in requests] == ["delivered", "failed", "expired"]
    # Even at DEBUG, neither our lines nor smpplib's PDU dumps show a number.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "+99900****0003" in logged
    assert not any(r.address.lstrip("+") in logged for r in requests)
    assert not any(r.address.lstrip("+").encode().hex() in logged for r in requests)


def test_invalid_destination_is_refused_for_good(smpp_simulator: SmppSimulator):
    bad, good = sms("0000000009"), sms("0000000011")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> tuple:
        refused = await gw.send(bad)
        accepted = await gw.send(good)
        return refused, accepted, await collect_receipts(q, final_for({good.send_id}))

    refused, accepted, receipts = run_with_gateway(smpp_simulator, body)

    assert not refused.accepted and not refused.retryable
    assert "Invalid Destination Address" in refused.reason and "0x0b" in refused.reason
    assert accepted.accepted
    assert bad.send_id not in {r.send_id for r in receipts}


def test_throttled_submit_is_retried_after_a_pause(smpp_simulator: SmppSimulator):
    request = sms("0000000008")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> SendResult:
        result = await gw.send(request)
        await collect_receipts(q, final_for({request.send_id}))
        return result

    result = run_with_gateway(smpp_simulator, body, throttle_delay_s=0.2)

    assert result.accepted, result.reason
    submits = smpp_simulator.events("submit")
    assert [s["status"] for s in submits] == [
        "ESME_RTHROTTLED",
        "ESME_RTHROTTLED",
        "ESME_ROK",
    ]
    times = [float(s["t"]) for s in submits]  # type: ignore[arg-type]
    # Pauses of 0.2 s, then 0.4 s (doubled on the second retry).
    assert times[1] - times[0] >= 0.2 * 0.95
    assert times[2] - times[1] >= 0.4 * 0.95


def test_throttling_beyond_the_retries_is_refused_as_retryable(
    smpp_simulator: SmppSimulator,
):
    request = sms("0000000018")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> SendResult:
        return await gw.send(request)

    result = run_with_gateway(
        smpp_simulator, body, throttle_delay_s=0.05, max_throttle_retries=1
    )

    assert not result.accepted and result.retryable
    assert "throttling" in result.reason
    assert [s["status"] for s in smpp_simulator.events("submit")] == [
        "ESME_RTHROTTLED",
        "ESME_RTHROTTLED",
    ]


def test_window_bounds_the_submits_awaiting_an_answer(smpp_simulator: SmppSimulator):
    smpp_simulator.stop()
    smpp_simulator.start(answer_delay_s=0.05)
    requests = [sms(f"000000{n:02d}01") for n in range(12)]

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> int:
        results = await asyncio.gather(*(gw.send(r) for r in requests))
        assert all(r.accepted for r in results)
        await collect_receipts(q, final_for({r.send_id for r in requests}))
        return gw.peak_outstanding

    peak = run_with_gateway(smpp_simulator, body, window=3, burst=20)

    assert peak == 3
    # As the SMSC saw it: never more than 3 submits without an answer.
    assert max(int(s["unanswered"]) for s in smpp_simulator.events("submit")) == 3


def test_gateway_binds_again_after_the_smsc_drops_the_link(
    smpp_simulator: SmppSimulator,
):
    request = sms("0000000021")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> tuple:
        smpp_simulator.stop()
        await wait_for(lambda: not gw._bound.is_set(), "the link to drop")
        await asyncio.to_thread(smpp_simulator.start)
        await asyncio.wait_for(gw.wait_bound(), 60)
        result = await gw.send(request)
        receipts = await collect_receipts(q, final_for({request.send_id}))
        return result, receipts, gw.binds

    result, receipts, binds = run_with_gateway(
        smpp_simulator, body, reconnect_min_s=0.05
    )

    assert result.accepted
    assert binds == 2
    assert [r.state for r in receipts if r.send_id == request.send_id] == ["delivered"]


def test_submit_in_flight_when_the_link_drops_is_sent_again(
    smpp_simulator: SmppSimulator,
):
    smpp_simulator.stop()
    smpp_simulator.start(drop_on="0005")
    request = sms("0000000005")

    async def body(gw: SmppGateway, q: asyncio.Queue[Receipt]) -> tuple:
        sending = asyncio.create_task(gw.send(request))
        code = await asyncio.to_thread(smpp_simulator.wait_exit)
        await asyncio.to_thread(smpp_simulator.start)
        result = await sending
        receipts = await collect_receipts(q, final_for({request.send_id}))
        return code, result, receipts

    code, result, receipts = run_with_gateway(
        smpp_simulator, body, reconnect_min_s=0.05
    )

    assert code == 3
    assert result.accepted, result.reason
    statuses = [
        s["status"]
        for s in smpp_simulator.events("submit")
        if s["destination"] == "9990000000005"
    ]
    assert statuses == ["dropped", "ESME_ROK"]
    assert [r.state for r in receipts if r.send_id == request.send_id] == ["delivered"]
