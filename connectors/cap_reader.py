"""A safe reader of CAP 1.2 alerts (and, on request, CAP 1.1).

Untrusted XML is read in three steps:

1. **Bytes.** Input larger than ``max_bytes`` (1 MiB by default) is refused
   before parsing, and so is any document with a ``<!DOCTYPE`` or
   ``<!ENTITY``: CAP has no use for a DTD, and entity tricks (exponential
   "billion laughs", external entities pointing at ``file:///etc/passwd``)
   all need one. The lxml parser itself substitutes no entity, loads no
   DTD, uses no network and keeps libxml2's size and amplification limits
   (``huge_tree=False``); after parsing, a document type or entity node that
   got past the byte check (say in UTF-16) is refused too.
2. **Schema.** A CAP 1.2 ``alert`` is validated against the OASIS XSD. A
   CAP 1.1 alert is read only with ``allow_cap11=True``: its elements are
   moved to the 1.2 namespace and checked against the 1.2 schema, whose
   structure 1.1 shares.
3. **Rules the XSD leaves to prose.** ``identifier`` and ``sender`` hold no
   space, comma, ``<`` or ``&``; times are ``YYYY-MM-DDThh:mm:ss+hh:mm``;
   ``references`` is one or more ``sender,identifier,sent`` triples; an
   Alert or Update carries at least one ``info``; a ``polygon`` is a closed
   ring of at least 4 ``lat,lon`` pairs and a ``circle`` is
   ``lat,lon radius``; a Restricted scope has a ``restriction`` and a
   Private one ``addresses``.

:func:`read_alert` reads one bare alert; :func:`read_alerts` also opens an
EDXL-DE 1.0 distribution envelope and the ``<alerts>`` list some feeds
publish. Failures raise :class:`schemas.errors.ParseError` (the bytes) or
:class:`schemas.errors.CapError` (the message), naming the fault.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from shapely.geometry import Polygon

from schemas.cap import CAP11_NS, CAP12_NS, safe_parser, validate_cap_element
from schemas.errors import CapError, ParseError

log = logging.getLogger(__name__)

MAX_BYTES = 1 << 20
EDXL_DE_NS = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
CAP_FORBIDDEN = re.compile(r"[\s,<&]")
NEEDS_INFO = ("Alert", "Update")


@dataclass(frozen=True)
class CapReference:
    """One earlier message named in ``references``."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class CapCircle:
    """A CAP ``circle``: centre in degrees, radius in km."""

    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True)
class CapArea:
    """A CAP ``area``; polygons are shapely Polygons in (lon, lat) order."""

    areaDesc: str
    polygons: tuple[Polygon, ...]
    circles: tuple[CapCircle, ...]
    geocodes: tuple[tuple[str, str], ...]
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True)
class CapInfo:
    """A CAP ``info`` block; repeated CAP fields are tuples."""

    language: str
    categories: tuple[str, ...]
    event: str
    responseTypes: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    eventCodes: tuple[tuple[str, str], ...]
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    senderName: str | None
    headline: str | None
    description: str | None
    instruction: str | None
    web: str | None
    parameters: tuple[tuple[str, str], ...]
    areas: tuple[CapArea, ...]

    def parameter(self, name: str) -> str | None:
        """The first value of the parameter ``name``, None when absent."""
        return next((v for n, v in self.parameters if n == name), None)


@dataclass(frozen=True)
class CapAlert:
    """A CAP ``alert`` as read; ``version`` is ``"1.2"`` or ``"1.1"``."""

    version: str
    identifier: str
    sender: str
    sent: datetime
    status: str
    msgType: str
    scope: str
    source: str | None
    restriction: str | None
    addresses: str | None
    codes: tuple[str, ...]
    note: str | None
    references: tuple[CapReference, ...]
    incidents: str | None
    infos: tuple[CapInfo, ...]


def parse_document(data: bytes, *, max_bytes: int = MAX_BYTES) -> etree._Element:
    """Parse untrusted XML bytes safely and return the root element.

    Raises
    ------
    ParseError
        Oversize input, a DTD or entity declaration, or malformed XML.
    """
    if not isinstance(data, bytes | bytearray):
        raise ParseError(f"CAP input is {type(data).__name__}, expected bytes")
    if len(data) > max_bytes:
        raise ParseError(
            f"CAP input is {len(data)} bytes, more than the {max_bytes} allowed"
        )
    # XXX: a byte scan, so a CDATA section that quotes "<!DOCTYPE" is refused
    # too; no CAP feed seen has one, and a false refusal is the safe side.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ParseError("CAP input declares a DTD or entities; CAP allows neither")
    try:
        root = etree.fromstring(bytes(data), safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"CAP input is not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ParseError("CAP input declares a DTD; CAP allows none")
    if any(isinstance(n, etree._Entity) for n in root.iter()):
        raise ParseError("CAP input holds entity references; CAP allows none")
    return root


def read_alert(
    data: bytes, *, allow_cap11: bool = False, max_bytes: int = MAX_BYTES
) -> CapAlert:
    """Read one bare CAP alert (the document root is ``alert``)."""
    root = parse_document(data, max_bytes=max_bytes)
    if etree.QName(root).localname != "alert":
        raise CapError(
            f"root element {root.tag} is not a CAP alert; read_alerts opens envelopes"
        )
    return alert_from_element(root, allow_cap11=allow_cap11)


def read_alerts(
    data: bytes, *, allow_cap11: bool = False, max_bytes: int = MAX_BYTES
) -> list[CapAlert]:
    """Read a bare alert, an EDXL-DE 1.0 envelope or an ``<alerts>`` list.

    Every alert must pass; the error lists each one that does not.
    """
    root = parse_document(data, max_bytes=max_bytes)
    if etree.QName(root).localname == "alert":
        return [alert_from_element(root, allow_cap11=allow_cap11)]
    kind, elements = _wrapped(root)
    alerts, faults = [], []
    for n, element in enumerate(elements, start=1):
        try:
            alerts.append(
                alert_from_element(
                    element,
                    allow_cap11=allow_cap11,
                    what=f"CAP alert {n} of {len(elements)} in the {kind}",
                )
            )
        except CapError as exc:
            faults.append(str(exc))
    if faults:
        raise CapError(
            f"{len(faults)} of {len(elements)} alerts fail: " + " | ".join(faults)
        )
    log.debug("read %d CAP alerts from a %s", len(alerts), kind)
    return alerts


def _wrapped(root: etree._Element) -> tuple[str, list[etree._Element]]:
    qname = etree.QName(root)
    if root.tag == f"{{{EDXL_DE_NS}}}EDXLDistribution":
        path = "/".join(
            f"{{{EDXL_DE_NS}}}{tag}"
            for tag in ("contentObject", "xmlContent", "embeddedXMLContent")
        )
        kind = "EDXL-DE envelope"
        elements = [
            child
            for holder in root.iterfind(path)
            for child in holder
            if isinstance(child.tag, str) and etree.QName(child).localname == "alert"
        ]
    elif qname.localname == "alerts" and qname.namespace in (CAP12_NS, CAP11_NS):
        kind = "alerts list"
        elements = [c for c in root if isinstance(c.tag, str)]
    elif root.tag == f"{{{ATOM_NS}}}feed" or qname.localname == "rss":
        raise CapError(
            f"document is an {'Atom' if qname.localname == 'feed' else 'RSS'} feed; "
            "its entries point to alerts: read each alert on its own"
        )
    else:
        raise CapError(
            f"root element {root.tag} is neither a CAP alert nor a supported "
            f"envelope ({{{EDXL_DE_NS}}}EDXLDistribution or a CAP <alerts> list)"
        )
    if not elements:
        raise CapError(f"the {kind} holds no CAP alert")
    return kind, elements


def alert_from_element(
    element: etree._Element, *, allow_cap11: bool = False, what: str = "CAP alert"
) -> CapAlert:
    """Validate and read one ``alert`` element (see the module docstring)."""
    namespace = etree.QName(element).namespace
    if namespace == CAP11_NS:
        if not allow_cap11:
            raise CapError(
                f"{what} is CAP 1.1 ({CAP11_NS}); pass allow_cap11=True to read it"
            )
        element, version = _as_cap12(element), "1.1"
    elif namespace == CAP12_NS:
        version = "1.2"
    else:
        raise CapError(
            f"{what}: element {etree.QName(element).localname} is in namespace "
            f"{namespace!r}, expected {CAP12_NS}"
        )
    if etree.QName(element).localname != "alert":
        raise CapError(f"{what}: element is {element.tag}, expected an alert")
    validate_cap_element(element, what=what)
    return _alert(element, version, what)


def _as_cap12(element: etree._Element) -> etree._Element:
    # XXX: no CAP 1.1 schema ships with ews; a 1.1 alert is checked against
    # the 1.2 structure, which also demands 1.2's stricter time format.
    copy = deepcopy(element)
    for el in copy.iter():
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{CAP11_NS}}}"):
            el.tag = f"{{{CAP12_NS}}}" + etree.QName(el).localname
    return copy


# ------------------------------------------------------------- extraction --


def _q(tag: str) -> str:
    return f"{{{CAP12_NS}}}{tag}"


def _text(parent: etree._Element, tag: str) -> str | None:
    el = parent.find(_q(tag))
    return None if el is None else (el.text or "")


def _texts(parent: etree._Element, tag: str) -> tuple[str, ...]:
    return tuple((el.text or "") for el in parent.iterfind(_q(tag)))


def _pairs(parent: etree._Element, tag: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_text(el, "valueName") or "", _text(el, "value") or "")
        for el in parent.iterfind(_q(tag))
    )


def cap_datetime(text: str, what: str) -> datetime:
    """A CAP time (``YYYY-MM-DDThh:mm:ss+hh:mm``) as an aware datetime."""
    text = text.strip()
    if not CAP_TIME.fullmatch(text):
        raise CapError(f"{what} {text!r} is not of the form YYYY-MM-DDThh:mm:ss+hh:mm")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise CapError(f"{what} {text!r} is not a real time: {exc}") from exc


def _optional_time(parent: etree._Element, tag: str, what: str) -> datetime | None:
    text = _text(parent, tag)
    return None if text is None else cap_datetime(text, f"{what} {tag}")


def _references(text: str | None, what: str) -> tuple[CapReference, ...]:
    if text is None:
        return ()
    triples = text.split()
    if not triples:
        raise CapError(
            f"{what} references is empty; expected sender,identifier,sent triples"
        )
    out = []
    for triple in triples:
        parts = triple.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise CapError(
                f"{what} references entry {triple!r} is not a "
                "sender,identifier,sent triple"
            )
        out.append(
            CapReference(
                parts[0], parts[1], cap_datetime(parts[2], f"{what} reference sent")
            )
        )
    return tuple(out)


def _points(text: str, what: str) -> Iterator[tuple[float, float]]:
    for pair in text.split():
        try:
            lat_s, lon_s = pair.split(",")
            lat, lon = float(lat_s), float(lon_s)
        except ValueError:
            raise CapError(f"{what}: {pair!r} is not a lat,lon pair") from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise CapError(f"{what}: {pair!r} is outside lat -90..90, lon -180..180")
        yield lat, lon


def parse_polygon(text: str, what: str = "polygon") -> Polygon:
    """A CAP polygon ("lat,lon lat,lon ...") as a shapely Polygon in (lon, lat)."""
    points = list(_points(text, what))
    if len(points) < 4:
        raise CapError(f"{what} has {len(points)} points; CAP wants at least 4")
    if points[0] != points[-1]:
        raise CapError(
            f"{what} is not closed: first {points[0]} differs from last {points[-1]}"
        )
    return Polygon([(lon, lat) for lat, lon in points])


def parse_circle(text: str, what: str = "circle") -> CapCircle:
    """A CAP circle ("lat,lon radius_km")."""
    parts = text.split()
    if len(parts) != 2:
        raise CapError(f"{what} {text!r} is not 'lat,lon radius'")
    ((lat, lon),) = _points(parts[0], what)
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapError(f"{what} radius {parts[1]!r} is not a number of km") from None
    if not (math.isfinite(radius) and radius >= 0):
        fault = "negative" if radius < 0 else "not finite"
        raise CapError(
            f"{what} radius {radius} km is {fault}; expected a finite radius >= 0 km"
        )
    return CapCircle(lat, lon, radius)


def _decimal(parent: etree._Element, tag: str) -> float | None:
    text = _text(parent, tag)
    return None if text is None else float(text)


def _area(el: etree._Element, what: str) -> CapArea:
    return CapArea(
        areaDesc=_text(el, "areaDesc") or "",
        polygons=tuple(
            parse_polygon(t, f"{what} polygon") for t in _texts(el, "polygon")
        ),
        circles=tuple(parse_circle(t, f"{what} circle") for t in _texts(el, "circle")),
        geocodes=_pairs(el, "geocode"),
        altitude=_decimal(el, "altitude"),
        ceiling=_decimal(el, "ceiling"),
    )


def _info(el: etree._Element, what: str) -> CapInfo:
    return CapInfo(
        language=_text(el, "language") or "en-US",
        categories=_texts(el, "category"),
        event=_text(el, "event") or "",
        responseTypes=_texts(el, "responseType"),
        urgency=_text(el, "urgency") or "",
        severity=_text(el, "severity") or "",
        certainty=_text(el, "certainty") or "",
        eventCodes=_pairs(el, "eventCode"),
        effective=_optional_time(el, "effective", what),
        onset=_optional_time(el, "onset", what),
        expires=_optional_time(el, "expires", what),
        senderName=_text(el, "senderName"),
        headline=_text(el, "headline"),
        description=_text(el, "description"),
        instruction=_text(el, "instruction"),
        web=_text(el, "web"),
        parameters=_pairs(el, "parameter"),
        areas=tuple(
            _area(a, f"{what} area {n}")
            for n, a in enumerate(el.iterfind(_q("area")), 1)
        ),
    )


def _alert(el: etree._Element, version: str, what: str) -> CapAlert:
    identifier = _text(el, "identifier") or ""
    what = f"{what} {identifier!r}"
    sender = _text(el, "sender") or ""
    for name, value in (("identifier", identifier), ("sender", sender)):
        if not value or CAP_FORBIDDEN.search(value):
            raise CapError(
                f"{what}: {name} {value!r} is empty or holds a space, comma, < or &"
            )
    msg_type = _text(el, "msgType") or ""
    scope = _text(el, "scope") or ""
    infos = tuple(_info(i, what) for i in el.iterfind(_q("info")))
    if msg_type in NEEDS_INFO and not infos:
        raise CapError(f"{what} is an {msg_type} without any info block; it needs one")
    restriction, addresses = _text(el, "restriction"), _text(el, "addresses")
    if scope == "Restricted" and not restriction:
        raise CapError(f"{what} has scope Restricted but no restriction")
    if scope == "Private" and not addresses:
        raise CapError(f"{what} has scope Private but no addresses")
    return CapAlert(
        version=version,
        identifier=identifier,
        sender=sender,
        sent=cap_datetime(_text(el, "sent") or "", f"{what} sent"),
        status=_text(el, "status") or "",
        msgType=msg_type,
        scope=scope,
        source=_text(el, "source"),
        restriction=restriction,
        addresses=addresses,
        codes=_texts(el, "code"),
        note=_text(el, "note"),
        references=_references(_text(el, "references"), what),
        incidents=_text(el, "incidents"),
        infos=infos,
    )
