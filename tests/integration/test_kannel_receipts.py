"""The receipt endpoint over real HTTP, called by real Kannel and by hand."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from connectors.gateway import Receipt
from connectors.kannel import KannelGateway, KannelSettings
from connectors.receipts_http import ReceiptServer, encode_send_id
from tests.integration.conftest import KannelRig, collect_receipts, wait_for
from tests.integration.test_kannel import SHORT_ASCII, TOKEN, sms

pytestmark = pytest.mark.integration


def test_reports_with_a_wrong_token_are_refused(kannel: KannelRig):
    async def run() -> tuple[dict[str, int], list[Receipt]]:
        queue: asyncio.Queue[Receipt] = asyncio.Queue()
        server = ReceiptServer(queue, token=TOKEN)
        await server.start()
        forged = ReceiptServer(queue, token="x" * 32, public_url=server.base_url)
        settings = KannelSettings(kannel.sendsms_url, kannel.username, kannel.password)
        wrong = KannelGateway(settings, forged.dlr_url)
        right = KannelGateway(settings, server.dlr_url)
        assert (await wrong.send(sms(7, SHORT_ASCII))).accepted
        # Kannel reports twice (SMSC ack, delivered): both refused.
        await wait_for(lambda: server.counts["forbidden"] >= 2, "two refusals")
        assert (await right.send(sms(8, SHORT_ASCII))).accepted
        got = await collect_receipts(
            queue, lambda got: any(r.state == "delivered" for r in got)
        )
        for gw in (wrong, right):
            await gw.close()
        await server.close()
        return server.counts, got

    counts, got = asyncio.run(run())

    assert counts["forbidden"] == 2
    assert {r.send_id for r in got} == {sms(8, "").send_id}


def test_endpoint_answers_by_hand():
    async def run() -> tuple[list[int], list[Receipt]]:
        queue: asyncio.Queue[Receipt] = asyncio.Queue()
        server = ReceiptServer(queue, token=TOKEN)
        await server.start()
        sid = encode_send_id("CAP-9/R9")
        base = f"{server.base_url}/dlr/kannel"
        queries = [
            {"token": TOKEN, "sid": sid, "type": "2", "answer": "stat:EXPIRED"},
            {"token": "nope-nope-nope-nope", "sid": sid, "type": "1"},
            {"token": TOKEN, "type": "1"},
            {"token": TOKEN, "sid": sid, "type": "3"},
            {"token": TOKEN, "sid": "***", "type": "1"},
        ]
        async with aiohttp.ClientSession() as session:
            statuses = []
            for query in queries:
                async with session.get(base, params=query) as response:
                    statuses.append(response.status)
        await server.close()
        return statuses, [queue.get_nowait() for _ in range(queue.qsize())]

    statuses, receipts = asyncio.run(run())

    assert statuses == [200, 403, 400, 400, 400]
    assert [(r.send_id, r.state) for r in receipts] == [("CAP-9/R9", "expired")]
