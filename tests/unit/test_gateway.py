"""The common gateway types and the token-bucket throughput limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.dryrun import DryRunLoudspeakerGateway, DryRunSmsGateway
from connectors.gateway import (
    Gateway,
    Receipt,
    SendRequest,
    TokenBucket,
    make_send_id,
)
from connectors.kannel import KannelGateway, KannelSettings
from connectors.loudspeaker import LoudspeakerGateway, MqttSettings
from connectors.smpp import SmppGateway, SmppSettings
from schemas.errors import ConfigError


class FakeTime:
    """An injected clock whose sleep moves it forward instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_send_id_comes_from_the_identifier_and_the_target_only():
    assert make_send_id("ZQ-441223-20260601T0400Z-1", "R0001") == (
        "ZQ-441223-20260601T0400Z-1/R0001"
    )
    with pytest.raises(ValueError, match="CAP identifier"):
        make_send_id("", "R0001")


def test_requests_and_receipts_check_their_enumerations():
    with pytest.raises(ValueError, match="channel 'fax'"):
        SendRequest("s", "fax", "t", "+99900000000001", "x", "zh-CN")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state 'read'"):
        Receipt("s", "read", datetime(2026, 6, 1, tzinfo=UTC), "g")  # type: ignore[arg-type]
    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert Receipt("s", "delivered", at, "g").final
    assert not Receipt("s", "unknown", at, "g").final


def test_request_repr_leaves_the_phone_number_out():
    request = SendRequest("s", "sms", "R1", "+99900000000001", "x", "zh-CN")
    assert "99900000000001" not in repr(request)
    assert "R1" in repr(request)


def test_bucket_lets_a_burst_through_then_paces_at_the_rate():
    t = FakeTime()
    bucket = TokenBucket(rate=2.0, burst=3, clock=t.clock, sleep=t.sleep)

    async def run() -> list[float]:
        return [await bucket.acquire() for _ in range(6)]

    waits = asyncio.run(run())
    # Three from the full bucket, then one every 1 / 2 s.
    assert waits == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5]
    assert t.now == pytest.approx(1.5)


def test_bucket_refills_while_idle_but_not_beyond_its_size():
    t = FakeTime()
    bucket = TokenBucket(rate=2.0, burst=3, clock=t.clock, sleep=t.sleep)

    async def run() -> list[float]:
        first = [await bucket.acquire() for _ in range(3)]
        t.now += 100.0  # idle: refills to 3, not 200
        return first + [await bucket.acquire() for _ in range(4)]

    assert asyncio.run(run()) == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]


def test_a_cost_above_the_bucket_size_is_paid_off_by_later_callers():
    t = FakeTime()
    bucket = TokenBucket(rate=2.0, burst=3, clock=t.clock, sleep=t.sleep)

    async def run() -> list[float]:
        return [await bucket.acquire(5), await bucket.acquire(1)]

    # 5 parts take the 3 tokens and 2 on credit: the next one waits (1 + 2) / 2.
    assert asyncio.run(run()) == [0.0, 1.5]


def test_bucket_settings_are_checked():
    with pytest.raises(ConfigError, match="rate must be > 0"):
        TokenBucket(rate=0)


def test_every_gateway_offers_the_common_interface(tmp_path: Path):
    queue: asyncio.Queue[Receipt] = asyncio.Queue()
    gateways = [
        KannelGateway(
            KannelSettings("http://127.0.0.1:1/cgi-bin/sendsms", "u", "p"), None
        ),
        SmppGateway(SmppSettings("127.0.0.1", 1, "u", "p"), queue),
        LoudspeakerGateway(MqttSettings("127.0.0.1", 1), queue),
        DryRunSmsGateway(queue, tmp_path / "sms.jsonl"),
        DryRunLoudspeakerGateway(queue, tmp_path / "ls.jsonl"),
    ]
    assert all(isinstance(g, Gateway) for g in gateways)
    assert [g.channel for g in gateways] == [
        "sms",
        "sms",
        "loudspeaker",
        "sms",
        "loudspeaker",
    ]
    assert len({g.name for g in gateways}) == 5
