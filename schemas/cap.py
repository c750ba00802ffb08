"""Validation of CAP 1.2 messages against the OASIS schema.

The schema file ``CAP-v1.2.xsd`` ships unmodified next to this module and is
compiled once, on first use. :func:`validate_cap` checks a whole document,
:func:`validate_cap_element` one ``alert`` element (for alerts that arrive
inside an envelope). Both raise :class:`schemas.errors.CapError` whose
message lists every schema complaint as ``line N: reason``.

The XSD checks structure and enumerations only; the rules that CAP 1.2 states
in prose (the ``references`` format, closed polygons, ...) are checked by
:mod:`connectors.cap_reader`.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from functools import cache
from pathlib import Path

from lxml import etree

from schemas.errors import CapError

log = logging.getLogger(__name__)

CAP12_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11_NS = "urn:oasis:names:tc:emergency:cap:1.1"
XSD_PATH = Path(__file__).with_name("CAP-v1.2.xsd")

#: Most schema complaints quoted in one error message.
MAX_REPORTED = 10


def safe_parser() -> etree.XMLParser:
    """An lxml parser that expands no entity and reads nothing but its input."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


@cache
def cap_schema() -> etree.XMLSchema:
    """The compiled OASIS CAP 1.2 schema (loaded once per process)."""
    doc = etree.parse(str(XSD_PATH), safe_parser())
    log.debug("loaded CAP 1.2 schema from %s", XSD_PATH)
    return etree.XMLSchema(doc)


def _complaints(schema: etree.XMLSchema) -> str:
    errors = list(schema.error_log)
    lines = [f"line {e.line}: {e.message}" for e in errors[:MAX_REPORTED]]
    if len(errors) > MAX_REPORTED:
        lines.append(f"... and {len(errors) - MAX_REPORTED} more")
    return "; ".join(lines)


def validate_cap_element(alert: etree._Element, *, what: str = "CAP alert") -> None:
    """Validate one ``alert`` element against the CAP 1.2 schema.

    Parameters
    ----------
    alert : lxml element
        The ``{urn:oasis:names:tc:emergency:cap:1.2}alert`` element; it may sit
        inside a larger document (it is validated on its own).
    what : str
        How to name the message in the error ("CAP alert 2 of 7", ...).

    Raises
    ------
    CapError
        When the element is not a CAP 1.2 alert or breaks the schema.
    """
    if alert.tag != f"{{{CAP12_NS}}}alert":
        raise CapError(
            f"{what}: root element is {alert.tag}, expected {{{CAP12_NS}}}alert"
        )
    schema = cap_schema()
    if alert.getparent() is None:
        ok = schema.validate(alert.getroottree())
    else:
        ok = schema.validate(etree.ElementTree(_detached(alert)))
    if not ok:
        raise CapError(f"{what} fails the CAP 1.2 schema: {_complaints(schema)}")


def _detached(alert: etree._Element) -> etree._Element:
    # A deep copy keeps each element's source line, so complaints still point
    # into the original document.
    return deepcopy(alert)


def validate_cap(xml_bytes: bytes) -> None:
    """Validate a CAP 1.2 document given as bytes.

    Parameters
    ----------
    xml_bytes : bytes
        The encoded XML document whose root is a CAP 1.2 ``alert``.

    Raises
    ------
    CapError
        When the bytes are not well-formed XML, declare a DTD, or the alert
        breaks the schema; the message lists the schema's line and reason.
    """
    try:
        root = etree.fromstring(xml_bytes, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise CapError(f"CAP alert is not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise CapError("CAP alert declares a DTD; CAP messages must not have one")
    validate_cap_element(root)
