"""A Kannel whose smsbox hangs, dies, or drops the link mid-request.

Real bearerbox, smsbox and fakesmsc on loopback (the ``kannel`` fixture);
the faults are made on smsbox itself with signals. What matters is the
difference between a send that certainly did not go out (no connection:
retry it) and one whose answer was lost (smsbox may have queued it: a
retry could reach the phone twice, so the delivery report decides).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from connectors.gateway import Receipt, SendResult
from connectors.kannel import KannelGateway, KannelSettings
from connectors.receipts_http import ReceiptServer
from tests.integration.conftest import KannelRig, collect_receipts
from tests.integration.test_kannel import SHORT_ASCII, TOKEN, sms

pytestmark = pytest.mark.integration

# Not a speed limit: how long a send waits for smsbox's answer.
ANSWER_WAIT_S = 2.0
# How long a report of a message smsbox took late is waited for; its
# receipts come within a second when it took the message.
REPORT_WAIT_S = 15.0


def smsbox(rig: KannelRig):
    """The smsbox process of the rig (started last)."""
    proc = rig.processes[-1]
    assert os.path.basename(proc.args[0]) == "smsbox"
    return proc


@pytest.fixture
def stopped(kannel: KannelRig) -> Iterator[KannelRig]:
    """The rig with smsbox stopped (SIGSTOP); it is continued at teardown."""
    box = smsbox(kannel)
    os.kill(box.pid, signal.SIGSTOP)
    try:
        yield kannel
    finally:
        if box.poll() is None:
            os.kill(box.pid, signal.SIGCONT)


async def _gateway_and_server(rig: KannelRig, reports: bool = True):
    queue: asyncio.Queue[Receipt] = asyncio.Queue()
    server = ReceiptServer(queue, token=TOKEN)
    await server.start()
    gateway = KannelGateway(
        KannelSettings(
            rig.sendsms_url, rig.username, rig.password, timeout_s=ANSWER_WAIT_S
        ),
        server.dlr_url if reports else None,
    )
    return gateway, server, queue


def received_by(rig: KannelRig, address: str) -> int:
    return sum(1 for m in rig.delivered() if m.receiver == address)


def test_a_hung_smsbox_times_out_and_the_send_is_left_to_its_report(
    stopped: KannelRig,
):
    box = smsbox(stopped)
    request = sms(11, SHORT_ASCII)

    async def run() -> tuple[SendResult, list[Receipt]]:
        gateway, server, queue = await _gateway_and_server(stopped)
        try:
            result = await gateway.send(request)
            os.kill(box.pid, signal.SIGCONT)  # smsbox wakes and reads the request
            try:
                receipts = await asyncio.wait_for(
                    collect_receipts(
                        queue,
                        lambda got: any(
                            r.send_id == request.send_id and r.final for r in got
                        ),
                    ),
                    REPORT_WAIT_S,
                )
            except TimeoutError:
                receipts = []
        finally:
            await gateway.close()
            await server.close()
        return result, receipts

    result, receipts = asyncio.run(run())

    # The answer was lost, not necessarily the message: taken as sent.
    assert result.accepted and not result.retryable
    assert "no answer from kannel" in result.reason
    assert "delivery report decides" in result.reason
    finals = [r for r in receipts if r.send_id == request.send_id and r.final]
    if finals:
        # smsbox had queued it: delivered once, and its report says so
        assert [r.state for r in finals] == ["delivered"]
        assert received_by(stopped, request.address) == 1
    else:
        # smsbox dropped the request it could not answer: nothing went out,
        # so the dispatcher's receipt timeout sending it again is safe
        assert received_by(stopped, request.address) == 0


def test_without_reports_a_lost_answer_is_a_retryable_refusal(stopped: KannelRig):
    async def run() -> SendResult:
        gateway, server, _ = await _gateway_and_server(stopped, reports=False)
        try:
            return await gateway.send(sms(12, SHORT_ASCII))
        finally:
            await gateway.close()
            await server.close()

    result = asyncio.run(run())

    assert not result.accepted and result.retryable
    assert "no answer from kannel" in result.reason


def test_a_dead_smsbox_refuses_sends_as_retryable_then_a_new_one_takes_them(
    kannel: KannelRig,
):
    box = smsbox(kannel)
    box.kill()
    box.wait()

    async def run() -> SendResult:
        gateway, server, _ = await _gateway_and_server(kannel)
        try:
            return await gateway.send(sms(13, SHORT_ASCII))
        finally:
            await gateway.close()
            await server.close()

    result = asyncio.run(run())

    # Nothing reached Kannel: safe to send again, and nothing went out.
    assert not result.accepted and result.retryable
    assert "kannel unreachable" in result.reason
    assert "ClientConnectorError" in result.reason
    assert received_by(kannel, sms(13, "").address) == 0


def test_a_link_dropped_mid_request_is_left_to_the_report(stopped: KannelRig):
    box = smsbox(stopped)
    request = sms(14, SHORT_ASCII)

    async def run() -> SendResult:
        gateway, server, _ = await _gateway_and_server(stopped)
        try:
            sending = asyncio.create_task(gateway.send(request))
            await asyncio.sleep(ANSWER_WAIT_S * 0.75)  # the request is out, unread
            box.kill()  # the kernel resets smsbox's connections
            return await sending
        finally:
            await gateway.close()
            await server.close()

    result = asyncio.run(run())

    # The reset came before the answer wait ran out: a dropped link.
    assert "Timeout" not in result.reason
    # Whether smsbox had taken it cannot be told from here: the report (or
    # the dispatcher's receipt timeout when none comes) decides.
    assert result.accepted and not result.retryable
    assert "no answer from kannel" in result.reason
    assert received_by(stopped, request.address) == 0
