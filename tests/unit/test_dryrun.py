"""DRY-RUN gateways: journal, labels, masked numbers, seeded receipts."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.dryrun import DryRunLoudspeakerGateway, DryRunModel, DryRunSmsGateway
from connectors.gateway import Receipt, SendRequest
from schemas.errors import ConfigError

SENT_AT = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


def sms(n: int) -> SendRequest:
    return SendRequest(
        f"CAP-DRY/R{n:04d}",
        "sms",
        f"R{n:04d}",
        f"+9990{n:010d}",
        "暴雨红色预警",
        "zh-CN",
    )


def run(gateway, requests: list[SendRequest]) -> list[Receipt]:
    async def go() -> list[Receipt]:
        for r in requests:
            assert (await gateway.send(r)).accepted
        await gateway.drain()
        await gateway.close()
        return [gateway.receipts.get_nowait() for _ in range(gateway.receipts.qsize())]

    return asyncio.run(go())


def test_every_record_is_labelled_and_no_number_is_written(tmp_path: Path, caplog):
    journal = tmp_path / "dry.jsonl"
    gateway = DryRunSmsGateway(asyncio.Queue(), journal, clock=lambda: SENT_AT)
    with caplog.at_level(logging.INFO, logger="connectors.dryrun"):
        receipts = run(gateway, [sms(1), sms(2)])

    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["kind"] for r in records].count("send") == 2
    assert [r["kind"] for r in records].count("receipt") == 2
    assert {r["mode"] for r in records} == {"DRY-RUN"}
    assert "+99900000000001" not in journal.read_text()
    assert records[0]["address"] == "+99900*****0001"
    assert (records[0]["encoding"], records[0]["parts"]) == ("ucs2", 1)
    assert all(r.detail.startswith("DRY-RUN") for r in receipts)
    assert caplog.records and all("DRY-RUN" in r.getMessage() for r in caplog.records)
    assert all("+99900000000001" not in r.getMessage() for r in caplog.records)


def test_outcomes_depend_on_seed_and_send_id_not_on_order(tmp_path: Path):
    model = DryRunModel(failure_rate=0.3, seed=7)
    requests = [sms(n) for n in range(50)]
    forward = run(
        DryRunSmsGateway(asyncio.Queue(), tmp_path / "a", model, clock=lambda: SENT_AT),
        requests,
    )
    backward = run(
        DryRunSmsGateway(asyncio.Queue(), tmp_path / "b", model, clock=lambda: SENT_AT),
        requests[::-1],
    )
    other_seed = run(
        DryRunSmsGateway(
            asyncio.Queue(),
            tmp_path / "c",
            DryRunModel(failure_rate=0.3, seed=8),
            clock=lambda: SENT_AT,
        ),
        requests,
    )

    def key(rs: list[Receipt]) -> dict[str, tuple[str, datetime]]:
        return {r.send_id: (r.state, r.at) for r in rs}

    assert key(forward) == key(backward)
    assert key(forward) != key(other_seed)


def test_failure_rate_and_fixed_delay(tmp_path: Path):
    requests = [sms(n) for n in range(1000)]
    never = DryRunModel(failure_rate=0.0, delay_median_s=5.0, delay_sigma=0.0)
    receipts = run(
        DryRunSmsGateway(asyncio.Queue(), tmp_path / "a", never, clock=lambda: SENT_AT),
        requests,
    )
    assert {r.state for r in receipts} == {"delivered"}
    assert {r.at for r in receipts} == {SENT_AT + timedelta(seconds=5)}

    always = DryRunModel(failure_rate=1.0)
    receipts = run(
        DryRunSmsGateway(asyncio.Queue(), tmp_path / "b", always), requests[:10]
    )
    assert {r.state for r in receipts} == {"failed"}

    some = DryRunModel(failure_rate=0.3, seed=1)
    receipts = run(DryRunSmsGateway(asyncio.Queue(), tmp_path / "c", some), requests)
    failed = sum(r.state == "failed" for r in receipts)
    # Binomial(1000, 0.3): mean 300, standard deviation 14.5.
    assert 300 - 5 * 14.5 < failed < 300 + 5 * 14.5


def test_lognormal_delays_have_the_median_asked_for(tmp_path: Path):
    model = DryRunModel(delay_median_s=10.0, delay_sigma=0.8, failure_rate=0.0)
    receipts = run(
        DryRunSmsGateway(asyncio.Queue(), tmp_path / "a", model, clock=lambda: SENT_AT),
        [sms(n) for n in range(2001)],
    )
    delays = sorted((r.at - SENT_AT).total_seconds() for r in receipts)
    # Median of a lognormal = exp(mu) = 10 s; its sample median over 2,001
    # draws has a standard error of about 10 * 0.8 * 1.2533 / sqrt(2001) = 0.22 s.
    assert delays[1000] == pytest.approx(10.0, abs=5 * 0.22)


def test_loudspeaker_dry_run_plays_and_keeps_the_topic(tmp_path: Path):
    journal = tmp_path / "ls.jsonl"
    request = SendRequest(
        "CAP-DRY/LS-1", "loudspeaker", "LS-1", "ews/ls/441223/V1/cmd", "预警", "yue"
    )
    gateway = DryRunLoudspeakerGateway(
        asyncio.Queue(), journal, DryRunModel(failure_rate=0)
    )
    (receipt,) = run(gateway, [request])
    assert (receipt.state, receipt.gateway) == ("played", "dryrun-loudspeaker")
    assert (
        json.loads(journal.read_text().splitlines()[0])["address"]
        == "ews/ls/441223/V1/cmd"
    )

    refused = asyncio.run(gateway.send(sms(1)))
    assert not refused.accepted and "DRY-RUN" in refused.reason


def test_model_settings_are_checked():
    with pytest.raises(ConfigError, match="failure_rate 1.5"):
        DryRunModel(failure_rate=1.5)
