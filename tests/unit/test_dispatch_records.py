"""Send ids, message texts and the dispatcher's two record types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.cap_reader import read_alert
from models.targeting import Target
from pipeline.dispatch.records import (
    alert_texts,
    order,
    receipt,
    scrub,
    send_id_for,
    split_send_id,
    text_for,
)
from schemas import registry
from schemas.errors import SchemaError
from tests.unit.test_dispatch_support import TOWN_A, alert_of, event

CAP = "441202001000-44120041600000-20260601120000-RS12345678-0001"
NOW = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)


def test_send_ids_are_derived_from_identifier_target_and_wave():
    assert send_id_for(CAP, "R0001", 1) == f"{CAP}/R0001"
    assert send_id_for(CAP, "R0001", 3) == f"{CAP}/R0001#w3"
    assert split_send_id(f"{CAP}/R0001#w3") == (CAP, "R0001", 3)
    assert split_send_id(f"{CAP}/LS-1") == (CAP, "LS-1", 1)
    with pytest.raises(ValueError):
        split_send_id("no-slash")
    with pytest.raises(ValueError):
        split_send_id(f"{CAP}/R1#wx")


@pytest.mark.parametrize(
    ("status", "zh", "en"),
    [("Actual", "", ""), ("Exercise", "【演练】", "[EXERCISE] "),
     ("Test", "【测试】", "[TEST] ")],
)  # fmt: skip
def test_texts_are_headline_and_instruction_marked_when_not_actual(status, zh, en):
    alert = read_alert(alert_of(event([TOWN_A], status=status))["xml"].encode())
    zh_info = next(i for i in alert.infos if i.language == "zh-CN")
    texts = alert_texts(alert)
    assert texts["zh-CN"] == f"{zh}{zh_info.headline}：{zh_info.instruction}"
    assert texts["en"].startswith(en) and "Orange" in texts["en"]
    assert text_for(texts, "yue") == (texts["zh-CN"], "zh-CN")
    assert text_for(texts, "en") == (texts["en"], "en")


def test_orders_and_receipts_fit_their_schemas_and_carry_no_number():
    plan = {
        "identifier": CAP,
        "warning_id": "rainstorm:441202001:x",
        "msgType": "Alert",
        "status": "Exercise",
        "texts": {"zh-CN": "【演练】暴雨橙色预警", "en": "[EXERCISE] orange"},
        "deadline": "2026-06-01T15:00:00+00:00",
    }
    target = Target("R0001", "sms", "V1", TOWN_A, 0.0, "en")
    record = order(plan, target, "sms2", 2, NOW)
    registry.validate(record, "dispatch_order/1")
    assert (
        record["send_id"] == f"{CAP}/R0001#w2" and record["text"] == "[EXERCISE] orange"
    )
    assert record["exercise"] is True and "address" not in record

    rec = receipt(
        send_id=record["send_id"],
        state="delivered",
        at=NOW,
        gateway="kannel",
        detail="delivered: ACK to +99900000000123",
    )
    registry.validate(rec, "receipt/1")
    assert rec["final"] and rec["warning_id"] is None and rec["wave"] == 2
    # 14 digits: the first 5 and the last 4 stay.
    assert "99900000000123" not in rec["detail"] and "+99900*****0123" in rec["detail"]
    assert not receipt(
        send_id=record["send_id"], state="unknown", at=NOW, gateway="kannel"
    )["final"]
    with pytest.raises(SchemaError):
        registry.validate(dict(record, route="fax"), "dispatch_order/1")


def test_scrub_masks_long_digit_runs_only():
    assert scrub("stat:DELIVRD id:sim123-4") == "stat:DELIVRD id:sim123-4"
    assert scrub("to 8613812345678") == "to 86138****5678"
