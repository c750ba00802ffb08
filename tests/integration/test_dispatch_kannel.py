"""From a CAP alert on Kafka through the dispatcher to Kannel and back.

Real bearerbox, smsbox and fakesmsc (the ``kannel`` fixture), a real
worker process with the dispatcher on the test broker. Inventory, in
城东街道: village K1 (600 persons; recipients k1, k2, k3, a loudspeaker
covering 500) and K2 (400; k4, k5, k6); k1, k2, k4 and k5 are enrolled
for drills; one recipient stands for 100 persons.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.integration.conftest import KannelRig, free_ports
from tests.integration.test_dispatch_rig import DispatchRun
from tests.unit.test_dispatch_support import (
    TOWN_A,
    alert_of,
    event,
    settings_for,
    write_inventory,
)

pytestmark = pytest.mark.integration

PHONES = {f"k{i}": f"+9990000000001{i}" for i in range(1, 7)}
DRILL = {"k1", "k2", "k4", "k5"}
TOKEN = "dlr-token-for-the-dispatch-tests-0123"


@pytest.fixture
def run(kafka_bootstrap, kannel: KannelRig, tmp_path, monkeypatch):
    inventory = write_inventory(
        tmp_path / "inv",
        [("K1", TOWN_A, 600, 112.45, 23.12), ("K2", TOWN_A, 400, 112.46, 23.13)],
        [
            (rid, phone, TOWN_A, "K1" if int(rid[1]) <= 3 else "K2", rid in DRILL)
            for rid, phone in PHONES.items()
        ],
        [("LK1", "K1", TOWN_A, 500)],
    )
    secret = tmp_path / "kannel.password"
    secret.write_text(kannel.password + "\n")
    monkeypatch.setenv("EWS_KANNEL_DLR_TOKEN", TOKEN)
    (dlr_port,) = free_ports(1)
    settings = settings_for(
        inventory,
        tmp_path / "journal",
        dispatch_people_per_recipient=100,
        dispatch_sms_gateway="kannel",
        dispatch_wave_wait_s=20.0,
        kannel_sendsms_url=kannel.sendsms_url,
        kannel_username=kannel.username,
        kannel_password_file=str(secret),
        kannel_rate_per_s=50.0,
        kannel_dlr_port=dlr_port,
    )
    dispatch = DispatchRun(kafka_bootstrap, tmp_path / "worker", settings)
    dispatch.start()
    yield dispatch
    dispatch.stop()


def texts_by_receiver(kannel: KannelRig) -> dict[str, str]:
    """What each handset got, the parts of a long text joined in order."""
    parts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for m in kannel.delivered():
        sequence = m.udh[5] if len(m.udh) >= 6 else 1
        parts[m.receiver].append((sequence, m.text()))
    return {who: "".join(t for _, t in sorted(p)) for who, p in parts.items()}


def test_an_exercise_reaches_the_drill_phones_in_chinese_with_receipts(
    run: DispatchRun, kannel: KannelRig
):
    record = alert_of(event([TOWN_A], status="Exercise"))
    run.publish(record)
    snap = run.wait_closed(record["identifier"])[record["identifier"]]

    orders = run.records("dispatch")
    text = orders[0]["text"]
    assert text.startswith("【演练】") and "暴雨橙色预警" in text and len(text) > 70
    got = texts_by_receiver(kannel)
    assert set(got) == {PHONES[r] for r in DRILL}, "non-drill phones got nothing"
    assert all(t == text for t in got.values()), "Chinese arrives as sent"
    assert all(m.kind == "data" for m in kannel.delivered()), "UCS-2 in parts"

    receipts = run.records("receipts")
    delivered = {r["send_id"] for r in receipts if r["state"] == "delivered"}
    assert delivered == {o["send_id"] for o in orders}
    assert {r["gateway"] for r in receipts if r["state"] == "delivered"} == {"kannel"}
    assert {r["state"] for r in receipts} == {"delivered"}, "final reports only"

    # Audience: K1 min(600, 2 x 100), K2 min(400, 2 x 100).
    assert snap["population"] == 400 and snap["population_in_area"] == 1000
    assert snap["reached"]["sms"] == 400 and snap["coverage"] == 1.0
    assert snap["outcome"] == "reached"

    log = run.log()
    assert not any(phone in log for phone in PHONES.values()), "no number in logs"
    assert not any(phone[1:] in repr(receipts + orders) for phone in PHONES.values())


def test_an_actual_alert_goes_to_every_phone_and_the_loudspeaker(
    run: DispatchRun, kannel: KannelRig
):
    record = alert_of(event([TOWN_A]))
    run.publish(record)
    snap = run.wait_closed(record["identifier"])[record["identifier"]]

    assert set(texts_by_receiver(kannel)) == set(PHONES.values())
    # K1: max(3 x 100, 500) = 500; K2: 3 x 100 = 300; 800 of 1,000 people.
    assert snap["reached"] == {"sms": 600.0, "loudspeaker": 500.0, "any": 800.0}
    assert snap["coverage"] == pytest.approx(0.8)
    assert snap["outcome"] == "exhausted", "everyone reached, still short of 95 %"
