"""Reading SMPP delivery receipts (real smpplib PDUs, encoded and parsed)."""

from __future__ import annotations

import pytest
import smpplib.client
import smpplib.smpp

from connectors.smpp import receipt_state

CLIENT = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=True)


def deliver_sm(**fields: object):
    pdu = smpplib.smpp.make_pdu(
        "deliver_sm", client=CLIENT, source_addr="1", destination_addr="2", **fields
    )
    return smpplib.smpp.parse_pdu(
        pdu.generate(), client=CLIENT, allow_unknown_opt_params=True
    )


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", "delivered"),
        ("UNDELIV", "failed"),
        ("REJECTD", "failed"),
        ("DELETED", "failed"),
        ("EXPIRED", "expired"),
        ("ENROUTE", "unknown"),
        ("ACCEPTD", "unknown"),
    ],
)
def test_receipt_text(stat: str, state: str):
    text = (
        "id:7f3a sub:001 dlvrd:000 submit date:2606010400 done date:2606010401 "
        f"stat:{stat} err:000 text:"
    )
    pdu = deliver_sm(esm_class=0x04, short_message=text.encode())
    assert receipt_state(pdu) == ("7f3a", state, stat)


def test_receipt_tlvs_win_over_the_text():
    pdu = deliver_sm(
        esm_class=0x04,
        short_message=b"id:other stat:UNDELIV",
        receipted_message_id="7f3a",
        message_state=2,
    )
    assert receipt_state(pdu) == ("7f3a", "delivered", "UNDELIV")


def test_receipt_without_an_id():
    assert (
        receipt_state(deliver_sm(esm_class=0x04, short_message=b"stat:DELIVRD"))[0]
        is None
    )
