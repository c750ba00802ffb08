"""The dispatcher on SMPP (the smpp34 simulator), failing over to a second route.

The simulator answers by the last digit of the number (see
smpp_simulator.py): 1 delivered, 9 invalid destination (refused for good),
8 throttled twice then delivered, 7 undelivered, 6 expired. Village S1 of
城东街道 has 1,000 persons and five recipients, one per behaviour, each
standing for 200. The secondary SMS route is a dry run that delivers
everything, so the three numbers SMPP cannot reach get the message in
wave 2 and the alert reaches all 1,000.
"""

from __future__ import annotations

from collections import Counter

import pytest

from models.sms_text import count_parts
from tests.integration.conftest import SmppSimulator
from tests.integration.test_dispatch_rig import DispatchRun
from tests.unit.test_dispatch_support import (
    TOWN_A,
    alert_of,
    event,
    journal,
    settings_for,
    write_inventory,
)

pytestmark = pytest.mark.integration

PHONES = {f"s{d}": f"+9990000000020{d}" for d in (1, 9, 8, 7, 6)}


def test_smpp_receipts_and_errors_then_the_secondary_route(
    kafka_bootstrap, smpp_simulator: SmppSimulator, tmp_path, monkeypatch
):
    inventory = write_inventory(
        tmp_path / "inv",
        [("S1", TOWN_A, 1000, 112.45, 23.12)],
        [(rid, phone, TOWN_A, "S1", False) for rid, phone in PHONES.items()],
        [],
    )
    monkeypatch.setenv("EWS_SMPP_PASSWORD", "any")
    settings = settings_for(
        inventory,
        tmp_path / "journal",
        dispatch_people_per_recipient=200,
        dispatch_sms_gateway="smpp",
        dispatch_sms2_gateway="dryrun",
        dispatch_dryrun_sms2_failure=0.0,
        dispatch_wave_wait_s=20.0,
        smpp_port=smpp_simulator.port,
    )
    run = DispatchRun(kafka_bootstrap, tmp_path / "worker", settings)
    run.start()
    try:
        record = alert_of(event([TOWN_A]))
        run.publish(record)
        snap = run.wait_closed(record["identifier"])[record["identifier"]]
    finally:
        run.stop()

    ident = record["identifier"]
    first = {
        r["target_id"]: (r["state"], r["retryable"], r["gateway"])
        for r in run.records("receipts")
        if r["send_id"] == f"{ident}/{r['target_id']}" and r["final"]
    }
    assert first == {
        "s1": ("delivered", True, "smpp"),
        "s8": ("delivered", True, "smpp"),
        "s9": ("refused", False, "smpp"),
        "s7": ("failed", True, "smpp"),
        "s6": ("expired", True, "smpp"),
    }
    # One submit_sm per SMS part; the number ending in 8 is throttled twice
    # (both parts, then both again accepted).
    parts = count_parts(run.records("dispatch")[0]["text"]).parts
    assert parts == 2
    submits = Counter(e["destination"] for e in smpp_simulator.events("submit"))
    assert submits == {p[1:]: parts for p in PHONES.values()} | {PHONES["s8"][1:]: 4}

    second = journal(tmp_path / "journal" / "sms2.jsonl")
    assert sorted(r["target_id"] for r in second) == ["s6", "s7", "s9"]
    assert all(r["send_id"].endswith("#w2") for r in second)
    assert snap["reached"]["sms"] == 1000 and snap["coverage"] == 1.0
    assert snap["outcome"] == "reached" and snap["wave"] == 2
