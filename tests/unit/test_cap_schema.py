"""The OASIS CAP 1.2 schema check and the parser it uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from schemas.cap import CAP12_NS, safe_parser, validate_cap, validate_cap_element
from schemas.errors import CapError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "cap"


def test_valid_sample_passes() -> None:
    validate_cap((SAMPLES / "valid" / "taiwan.cap").read_bytes())


def test_schema_fault_names_line_and_reason() -> None:
    with pytest.raises(
        CapError, match=r"line 17: .*senderName.*This element is not expected"
    ):
        validate_cap((SAMPLES / "invalid" / "sweden.cap").read_bytes())


def test_wrong_root_is_refused() -> None:
    with pytest.raises(
        CapError, match="expected \\{urn:oasis:names:tc:emergency:cap:1.2\\}alert"
    ):
        validate_cap((SAMPLES / "invalid" / "invalid_xmlns.cap").read_bytes())


def test_malformed_and_dtd_input() -> None:
    with pytest.raises(CapError, match="not well-formed"):
        validate_cap(b"<alert")
    with pytest.raises(CapError, match="declares a DTD"):
        validate_cap(b'<!DOCTYPE alert [<!ENTITY a "b">]><alert/>')


def test_alert_inside_an_envelope_is_checked_with_original_lines() -> None:
    root = etree.parse(
        str(SAMPLES / "invalid" / "bushfire_invalid.edxlde"), safe_parser()
    ).getroot()
    alerts = list(root.iter(f"{{{CAP12_NS}}}alert"))
    assert len(alerts) == 7
    validate_cap_element(alerts[0])
    with pytest.raises(CapError, match=r"line 115: .*'Foobar'"):
        validate_cap_element(alerts[2], what="third")


def test_safe_parser_leaves_external_entities_unread(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    doc = (
        f'<!DOCTYPE a [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><a>&xxe;</a>'
    ).encode()
    root = etree.fromstring(doc, safe_parser())
    assert "TOP-SECRET-MARKER" not in etree.tostring(root).decode()
    assert root.text is None
