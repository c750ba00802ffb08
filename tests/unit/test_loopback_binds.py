"""The HTTP endpoints ews opens listen on loopback unless told otherwise.

Three servers: the delivery-report endpoint Kannel calls back (which also
checks its shared token), the worker's Prometheus exporter and the faust web
server, and the lag exporter of the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.error
import urllib.parse
import urllib.request

import pytest

from connectors.receipts_http import KANNEL_PATH, ReceiptServer
from pipeline.app import create_app
from pipeline.lag_exporter import add_lag_exporter
from pipeline.settings import Settings

TOKEN = "a-shared-token-of-32-characters!"


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_receipt_endpoint_binds_loopback_and_checks_its_token() -> None:
    async def run() -> tuple[str, list[int], int]:
        queue: asyncio.Queue = asyncio.Queue()
        server = ReceiptServer(queue, token=TOKEN)
        await server.start()
        try:
            sid = "c2VuZC0x"  # "send-1", URL-safe base64
            base = f"http://127.0.0.1:{server.port}{KANNEL_PATH}?sid={sid}&type=1"
            answers = await asyncio.gather(
                *(
                    asyncio.to_thread(status_of, url)
                    for url in (
                        base,
                        f"{base}&token=wrong-token-of-32-characters-xxx",
                        f"{base}&{urllib.parse.urlencode({'token': TOKEN})}",
                    )
                )
            )
            return server.host, list(answers), queue.qsize()
        finally:
            await server.close()

    host, answers, taken = asyncio.run(run())
    assert host == "127.0.0.1"
    assert answers == [403, 403, 200]  # no token, a wrong one, the right one
    assert taken == 1


def test_the_worker_serves_metrics_and_web_on_loopback() -> None:
    settings = Settings(web_port=6067)
    assert settings.metrics_bind == "127.0.0.1"
    app = create_app(settings)
    assert app.conf.web_bind == "127.0.0.1"


def test_the_lag_exporter_binds_loopback_by_default() -> None:
    parser = argparse.ArgumentParser()
    add_lag_exporter(parser.add_subparsers())
    args = parser.parse_args(["lag-exporter"])
    assert args.bind == "127.0.0.1"


@pytest.mark.parametrize("token", ["", "short"])
def test_a_receipt_endpoint_without_a_real_token_cannot_be_made(token: str) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        ReceiptServer(asyncio.Queue(), token=token)
