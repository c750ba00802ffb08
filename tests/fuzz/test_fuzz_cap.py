"""Hostile CAP XML through the safe reader, :func:`connectors.cap_reader.read_alerts`.

Documents start from the real alerts in ``data/samples/cap`` (bare alerts,
CAP 1.1, an EDXL-DE envelope, an ``<alerts>`` list) and are attacked in the
ways untrusted XML is attacked:

- entity tricks: an external entity naming a local file that holds a
  canary, parameter entities, an external DTD, and exponential entity
  expansion ("billion laughs"), each in UTF-8 and in UTF-16 (which a byte
  scan for ``<!DOCTYPE`` does not see), and XInclude;
- size: documents past the 1 MiB limit, elements nested thousands deep,
  attributes megabytes long;
- content: element texts replaced by hostile values (NaN or infinite
  coordinates and radii, open polygons, times without offsets, identifiers
  with spaces, references that are not triples), elements removed,
  duplicated or renamed, namespaces swapped;
- bytes: truncated, flipped, re-encoded with a wrong declaration.

Properties: the reader returns alerts or raises :class:`ParseError` or
:class:`CapError` with a reason; no alert ever holds the canary (no entity
was resolved and no file read); every accepted alert has real geometry;
traced memory stays bounded (no expansion happened).
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connectors.cap_reader import CapAlert, read_alerts
from connectors.scenario import SAMPLES_DIR
from tests.fuzz.harness import REFUSALS, Tally, bounded_memory, compact, fuzz_settings
from tests.fuzz.hostile import Hostile, hostile

BATCH = 20
CAP = SAMPLES_DIR / "cap"
SAMPLES = sorted(
    p
    for folder in ("valid", "wrapped", "cap11")
    for p in (CAP / folder).iterdir()
    if p.is_file()
)
CANARY = "ews-canary-7f3a"
GEOMETRY = [
    "23.9,112.35 inf",
    "23.9,112.35 nan",
    "23.9,112.35 -5",
    "23.9,112.35 1e999",
    "nan,112.35 10",
    "23.9,112.35",
    "23.9,112.35 10",
]
TEXTS = [
    "nan,nan nan,nan nan,nan nan,nan",
    "0,0 1,1 2,2 0,0",
    "0,0 1,1 2,2 3,3",
    "91,0 0,0 1,1 91,0",
    "1e999,0 0,0 1,1 1e999,0",
    "23.9,112.35 inf",
    "23.9,112.35 nan",
    "23.9,112.35 -5",
    "23.9,112.35",
    "2024-02-30T10:00:00+08:00",
    "2024-07-15T10:00:00",
    "2024-07-15T10:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "sender,id,2024-07-15T10:00:00+08:00 broken",
    "id with spaces",
    "a,b",
    "",
    "x" * 70_000,
    "\u202e\ufeff",
    "NaN",
    "-1e308",
]


def canary_file(folder: Path) -> Path:
    path = folder / "secret.txt"
    path.write_text(CANARY, encoding="utf-8")
    return path


def entity_attack(h: Hostile, body: bytes, secret: Path) -> bytes:
    """``body`` (an alert without its XML declaration) behind a hostile DTD."""
    kind = h.pick(["external", "parameter", "dtd", "laughs", "xinclude"])
    if kind == "external":
        dtd = f'<!DOCTYPE alert [<!ENTITY x SYSTEM "file://{secret}">]>'
        body = body.replace(b"</identifier>", b"&x;</identifier>", 1)
    elif kind == "parameter":
        dtd = (
            f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "file://{secret}">'
            "<!ENTITY % q \"<!ENTITY y '%p;'>\">%q;]>"
        )
        body = body.replace(b"</identifier>", b"&y;</identifier>", 1)
    elif kind == "dtd":
        dtd = f'<!DOCTYPE alert SYSTEM "file://{secret.parent}/missing.dtd">'
    elif kind == "laughs":
        levels = ['<!ENTITY l0 "lol">'] + [
            f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
        ]
        dtd = f"<!DOCTYPE alert [{''.join(levels)}]>"
        body = body.replace(b"</identifier>", b"&l9;</identifier>", 1)
    else:
        dtd = ""
        include = (
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            f'href="file://{secret}" parse="text"/>'
        )
        body = body.replace(b"</note>", include.encode() + b"</note>", 1)
        body = body.replace(b"</identifier>", include.encode() + b"</identifier>", 1)
    text = f"<?xml version='1.0' encoding='UTF-8'?>\n{dtd}\n".encode() + body
    if h.chance(0.4):
        decl = b"<?xml version='1.0' encoding='UTF-8'?>"
        text = text.replace(decl, b"<?xml version='1.0' encoding='UTF-16'?>", 1)
        return text.decode("utf-8").encode("utf-16")
    return text


def size_attack(h: Hostile, body: bytes) -> bytes:
    kind = h.pick(["oversize", "deep", "attribute"])
    if kind == "oversize":
        return body.replace(
            b"</identifier>", b"</identifier><!--" + b"x" * (1 << 20) + b"-->", 1
        )
    if kind == "deep":
        depth = h.pick([300, 5_000])
        nest = b"<note>" + b"<a>" * depth + b"</a>" * depth + b"</note>"
        return body.replace(b"</sender>", b"</sender>" + nest, 1)
    return body.replace(b"<alert", b'<alert x="' + b"y" * 900_000 + b'"', 1)


def content_attack(h: Hostile, root: etree._Element) -> bytes:
    """The alert with a few elements changed, removed, duplicated or renamed."""
    root = copy.deepcopy(root)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    areas = [e for e in elements if etree.QName(e).localname == "area"]
    if areas and h.chance(0.3):
        # a circle where CAP wants it: after areaDesc and any polygons
        area = h.pick(areas)
        ns = etree.QName(area).namespace
        circle = etree.Element(f"{{{ns}}}circle" if ns else "circle")
        circle.text = h.pick(GEOMETRY)
        before = [
            c
            for c in area
            if isinstance(c.tag, str)
            and etree.QName(c).localname in ("areaDesc", "polygon")
        ]
        (before[-1] if before else area[0]).addnext(circle)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for _ in range(h.rng.randint(1, 4)):
        el = h.pick(elements)
        roll = h.rng.random()
        if roll < 0.6 and len(el) == 0:
            el.text = h.pick(TEXTS)
        elif roll < 0.75 and el.getparent() is not None:
            el.getparent().remove(el)
            elements = [e for e in root.iter() if isinstance(e.tag, str)]
        elif roll < 0.85 and el.getparent() is not None:
            el.addnext(copy.deepcopy(el))
        elif roll < 0.95:
            qname = etree.QName(el)
            el.tag = f"{{{qname.namespace or ''}}}x{qname.localname}"
        else:
            el.tag = f"{{urn:not:cap}}{etree.QName(el).localname}"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def byte_attack(h: Hostile, data: bytes) -> bytes:
    kind = h.pick(["truncate", "flip", "encoding"])
    if kind == "truncate":
        return data[: h.rng.randrange(len(data))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(h.rng.randint(1, 6)):
            out[h.rng.randrange(len(out))] = h.rng.randrange(256)
        return bytes(out)
    return data.replace(b"UTF-8", b"ISO-8859-1", 1).replace(b"utf-8", b"Shift_JIS", 1)


def check_alerts(alerts: list[CapAlert]) -> None:
    """Accepted alerts hold no resolved entity and only real geometry."""
    for alert in alerts:
        assert CANARY not in repr(alert), "an entity was resolved: the canary leaked"
        for info in alert.infos:
            for area in info.areas:
                for polygon in area.polygons:
                    assert polygon.is_valid or polygon.area >= 0
                    assert all(
                        math.isfinite(c) for xy in polygon.exterior.coords for c in xy
                    )
                for circle in area.circles:
                    assert math.isfinite(circle.radius_km) and circle.radius_km >= 0


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def test_hostile_cap_xml_is_read_or_refused(workdir: Path) -> None:
    secret = canary_file(workdir)
    originals = [p.read_bytes() for p in SAMPLES]
    roots = [etree.fromstring(data) for data in originals]
    bodies = [
        etree.tostring(root, encoding="UTF-8", xml_declaration=False) for root in roots
    ]
    tally = Tally("CAP XML documents")
    for data in originals:  # the XSD, once
        try:
            read_alerts(data, allow_cap11=True)
        except REFUSALS:
            pass

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for _ in range(count):
            index = h.rng.randrange(len(SAMPLES))
            roll = h.rng.random()
            if roll < 0.2:
                data = entity_attack(h, bodies[index], secret)
            elif roll < 0.3:
                data = size_attack(h, bodies[index])
            elif roll < 0.85:
                data = content_attack(h, roots[index])
            else:
                data = byte_attack(h, originals[index])
            try:
                alerts = read_alerts(data, allow_cap11=h.chance(0.5))
            except REFUSALS as exc:
                assert str(exc).strip(), "refused with an empty reason"
                assert CANARY not in str(exc), "the canary leaked into a reason"
                tally.refuse(exc.reason_class)
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading CAP: {str(exc)[:300]}\n"
                    f"bytes: {compact(data)}"
                ) from exc
            check_alerts(alerts)
            tally.accept()

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
