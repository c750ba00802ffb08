"""CAP 1.2 alerts from ``warning_event/1`` records.

:func:`build_alert` turns one warning event into one CAP 1.2 message with two
``info`` blocks (zh-CN and en) and returns it with its identifier; every
message is validated against the OASIS schema before it leaves, and a
message that fails raises :class:`schemas.errors.CapError`.
:func:`envelope` wraps a built message as a ``cap_alert/1`` record.

Everything in a message is derived from the event and the arguments, never
from the clock, so a re-run of the same event gives the same bytes.

Identifier
    ``AAAAAAAAAAAA-AGENCY-YYYYMMDDHHMMSS-HZxxxxxxxx-NNNN``: the area code of
    the event's first area padded to the 12 digits of the NBS division scheme
    (a 9-digit town code gets ``000``), the agency code, the event's
    ``observed_at`` in UTC, the hazard's two-letter code followed by the first
    8 hex digits of the SHA-256 of the ``warning_id`` (two warnings that share
    a first town, a time and a sequence stay apart), and the sequence, at
    least 4 digits. It holds no space, comma, ``<`` or ``&``, as CAP 1.2
    requires.

Message type and references
    ``issue`` is an Alert, ``upgrade``/``downgrade``/``extend`` an Update,
    ``cancel`` a Cancel. ``references`` lists every earlier message of the
    warning as ``sender,identifier,sent`` triples separated by spaces.

Times
    ``sent`` is ``observed_at``, ``onset`` is ``valid_from``, ``expires`` is
    ``valid_to``, all whole seconds with a numeric offset (``+08:00`` by
    default, never ``Z``). A Cancel expires a fixed time after it is sent.

Areas
    One ``area`` per ``info``: ``areaDesc`` lists the towns, each town gives
    one ``polygon`` per part (the outer ring in ``lat,lon`` pairs, closed,
    simplified to at most ``max_points`` points) and one ``geocode``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

import shapely
from lxml import etree
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from connectors import cap_reader
from models.cap_mapping import (
    CapMapping,
    flatten_trigger,
    load_mapping,
    machine_value,
)
from schemas.cap import CAP12_NS, validate_cap
from schemas.errors import CapError, ConfigError, SchemaError, UnknownReferenceError

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8))
MSG_TYPES = {
    "issue": "Alert",
    "upgrade": "Update",
    "downgrade": "Update",
    "extend": "Update",
    "cancel": "Cancel",
}
STATUSES = ("Actual", "Exercise", "Test")
CAP_FORBIDDEN = frozenset(" ,<&\t\r\n")

#: Decimal places of the coordinates written (1e-5 degree is about 1 m).
COORD_DECIMALS = 5


class TownLike(Protocol):
    """What the writer needs of a town.

    ``polygon`` is a shapely Polygon or MultiPolygon in lon/lat degrees
    (WGS 84). A town may also carry ``name_en``; without one, its code
    stands in for the English name.
    """

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def polygon(self) -> BaseGeometry: ...


def cap_time(when: datetime, tz: tzinfo = CHINA_TZ) -> str:
    """A time in CAP form: whole seconds and a numeric offset, never ``Z``."""
    if when.tzinfo is None:
        raise SchemaError(f"time {when.isoformat()} has no UTC offset")
    return when.astimezone(tz).replace(microsecond=0).isoformat()


def parse_event_time(event: Mapping[str, Any], key: str) -> datetime:
    """An ISO-8601 time of a warning event, which must carry an offset."""
    raw = event.get(key)
    if not isinstance(raw, str):
        raise SchemaError(f"warning event {key} is {raw!r}, expected ISO-8601 text")
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SchemaError(f"warning event {key} {raw!r} is not ISO-8601") from exc
    if when.tzinfo is None:
        raise SchemaError(f"warning event {key} {raw!r} has no UTC offset")
    return when.replace(microsecond=0)


def _cap_token(value: str, what: str) -> str:
    if not value or CAP_FORBIDDEN & set(value):
        raise ConfigError(f"{what} {value!r} is empty or holds a space, comma, < or &")
    return value


def area_code12(code: str) -> str:
    """An NBS division code padded to 12 digits (county 6, town 9, village 12)."""
    if not (code.isascii() and code.isdigit() and len(code) in (6, 9, 12)):
        raise SchemaError(f"area code {code!r} is not a 6-, 9- or 12-digit NBS code")
    return code.ljust(12, "0")


def alert_identifier(
    event: Mapping[str, Any], agency_code: str, mapping: CapMapping | None = None
) -> str:
    """The CAP identifier of an event (see the module docstring for the form)."""
    mapping = mapping or load_mapping()
    if not (agency_code.isascii() and agency_code.isalnum()):
        raise ConfigError(f"agency code {agency_code!r} must be ASCII letters/digits")
    codes = event.get("area", {}).get("codes") or []
    if not codes:
        raise SchemaError("warning event area.codes is empty, expected town codes")
    sequence = event.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise SchemaError(f"warning event sequence {sequence!r} is not an integer >= 1")
    observed = parse_event_time(event, "observed_at").astimezone(UTC)
    digest = hashlib.sha256(str(event["warning_id"]).encode("utf-8")).hexdigest()[:8]
    return "-".join(
        (
            area_code12(str(codes[0])),
            agency_code,
            observed.strftime("%Y%m%d%H%M%S"),
            mapping.hazard_code(event["hazard"]) + digest,
            f"{sequence:04d}",
        )
    )


def _check_event(event: Mapping[str, Any]) -> None:
    for key in ("warning_id", "event_id", "hazard", "area", "action", "sequence"):
        if key not in event:
            raise SchemaError(f"warning event has no '{key}'")
    if event["action"] not in MSG_TYPES:
        raise SchemaError(
            f"warning event action {event['action']!r}, "
            f"expected one of {list(MSG_TYPES)}"
        )
    if event.get("status") not in STATUSES:
        raise SchemaError(
            f"warning event status {event.get('status')!r}, expected one of {STATUSES}"
        )
    cancel = event["action"] == "cancel"
    if cancel and event.get("previous_level") is None:
        raise SchemaError("cancel event has no previous_level to name what it cancels")
    if not cancel and event.get("level") is None:
        raise SchemaError(f"{event['action']} event has no level")


def _ordered_towns(
    event: Mapping[str, Any], towns: Sequence[TownLike]
) -> list[TownLike]:
    by_code = {t.code: t for t in towns}
    codes = [str(c) for c in event["area"]["codes"]]
    missing = [c for c in codes if c not in by_code]
    extra = sorted(set(by_code) - set(codes))
    if missing or extra:
        raise UnknownReferenceError(
            f"towns do not match warning {event['warning_id']} area codes: "
            f"missing {missing}, not in the warning {extra}"
        )
    return [by_code[c] for c in codes]


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP12_NS}}}{tag}")
    if text is not None:
        try:
            el.text = text
        except ValueError:
            # lxml refuses NUL and the other control characters XML 1.0 has none of
            raise SchemaError(
                f"CAP {tag} text {text[:80]!r} holds a character XML cannot carry "
                "(NUL or another control character)"
            ) from None
    return el


def _pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    el = _sub(parent, tag)
    _sub(el, "valueName", name)
    _sub(el, "value", value)


def _ring_text(ring: Sequence[tuple[float, float]], what: str) -> str:
    points: list[tuple[float, float]] = []
    for lon, lat in ring:
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise CapError(f"{what}: point ({lon}, {lat}) is not lon/lat degrees")
        p = (round(lat, COORD_DECIMALS), round(lon, COORD_DECIMALS))
        if not points or p != points[-1]:
            points.append(p)
    if points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4:
        raise CapError(f"{what}: ring has {len(points)} points, a polygon needs 4")
    return " ".join(
        f"{lat:.{COORD_DECIMALS}f},{lon:.{COORD_DECIMALS}f}" for lat, lon in points
    )


def _simplify(shell: Polygon, tolerance: float) -> Polygon:
    # Plain Douglas-Peucker is about 15 times faster; the topology-preserving
    # form is needed only when it folds the ring onto itself.
    quick = shapely.simplify(shell, tolerance, preserve_topology=False)
    if isinstance(quick, Polygon) and not quick.is_empty and quick.is_valid:
        return quick
    safe = shapely.simplify(shell, tolerance, preserve_topology=True)
    return safe if isinstance(safe, Polygon) else shell


def simplified_rings(
    geom: BaseGeometry, max_points: int
) -> list[list[tuple[float, float]]]:
    """Outer rings of a (multi)polygon, each simplified to at most ``max_points``.

    The tolerance starts at 1e-5 degree (about 1 m) and doubles until the
    ring is short enough; a simplification that would make the ring cross
    itself is redone preserving topology. Holes are dropped: a CAP polygon
    cannot carry them.
    """
    if isinstance(geom, Polygon):
        parts = [geom]
    elif isinstance(geom, MultiPolygon):
        parts = list(geom.geoms)
    else:
        raise CapError(f"town geometry is a {geom.geom_type}, expected a polygon")
    rings = []
    for part in parts:
        if part.is_empty:
            continue
        # XXX: holes (enclaves) are dropped, so an alert also covers the land
        # inside a town's holes; CAP 1.2 polygons have no way to exclude it.
        shell = Polygon(part.exterior)
        tolerance = 1e-5
        while len(shell.exterior.coords) > max_points:
            shell = _simplify(Polygon(part.exterior), tolerance)
            tolerance *= 2.0
        rings.append([(float(x), float(y)) for x, y, *_ in shell.exterior.coords])
    if not rings:
        raise CapError("town geometry is empty")
    return rings


def _area(info: etree._Element, msg: _Message, language: str) -> None:
    area = _sub(info, "area")
    if language.startswith("zh"):
        names = [t.name for t in msg.towns]
    else:
        names = [getattr(t, "name_en", None) or t.code for t in msg.towns]
    _sub(area, "areaDesc", msg.mapping.list_separator(language).join(names))
    for town in msg.towns:
        for text in msg.polygons[town.code]:
            _sub(area, "polygon", text)
    for town in msg.towns:
        _pair(area, "geocode", msg.mapping.geocode_value_name, town.code)


def build_alert(
    event: Mapping[str, Any],
    *,
    towns: Sequence[TownLike],
    sender: str,
    agency_code: str,
    previous_identifiers: Sequence[str],
    previous_sent: Sequence[datetime],
    sender_name: Mapping[str, str] | None = None,
    tz: tzinfo = CHINA_TZ,
    cancel_expires_after: timedelta = timedelta(hours=1),
    max_points: int = 100,
    mapping: CapMapping | None = None,
) -> tuple[str, bytes]:
    """Build and validate the CAP 1.2 message of one warning event.

    Parameters
    ----------
    event : mapping
        A ``warning_event/1`` record.
    towns : sequence of TownLike
        The towns named by ``event["area"]["codes"]``, in any order.
    sender : str
        CAP ``sender`` (an address without spaces or commas).
    agency_code : str
        Short ASCII code of the issuing agency, used in the identifier.
    previous_identifiers, previous_sent : sequences
        Identifiers and ``sent`` times of the warning's earlier messages,
        oldest first; they become ``references``.
    sender_name : mapping of language to str, optional
        CAP ``senderName`` per language; the mapping table's by default.
    tz : tzinfo
        Zone of the written times (UTC+08:00 by default).
    cancel_expires_after : timedelta
        How long after it is sent a Cancel expires.
    max_points : int
        Most points of one written polygon ring.
    mapping : CapMapping, optional
        The vocabulary table; the shipped one by default.

    Returns
    -------
    identifier : str
    xml : bytes
        The UTF-8 encoded message, with an XML declaration.

    Raises
    ------
    SchemaError, UnknownReferenceError
        When the event is incomplete or names towns that were not given.
    CapError
        When the message cannot be valid CAP 1.2.
    """
    mapping = mapping or load_mapping()
    _check_event(event)
    _cap_token(sender, "CAP sender")
    if len(previous_identifiers) != len(previous_sent):
        raise SchemaError(
            f"{len(previous_identifiers)} previous identifiers but "
            f"{len(previous_sent)} previous sent times"
        )
    identifier = alert_identifier(event, agency_code, mapping)
    ordered = _ordered_towns(event, towns)
    action = event["action"]
    msg_type = MSG_TYPES[action]
    if msg_type != "Alert" and not previous_identifiers:
        raise CapError(f"{msg_type} {identifier} has no earlier message to reference")

    sent = parse_event_time(event, "observed_at")
    if action == "cancel":
        expires = sent + cancel_expires_after
    else:
        expires = parse_event_time(event, "valid_to")
    if expires <= sent:
        raise CapError(
            f"{identifier}: expires {cap_time(expires, tz)} is not after "
            f"sent {cap_time(sent, tz)}"
        )

    alert = etree.Element(f"{{{CAP12_NS}}}alert", nsmap={None: CAP12_NS})
    _sub(alert, "identifier", identifier)
    _sub(alert, "sender", sender)
    _sub(alert, "sent", cap_time(sent, tz))
    _sub(alert, "status", event["status"])
    _sub(alert, "msgType", msg_type)
    _sub(alert, "scope", "Public")
    if previous_identifiers:
        triples = [
            f"{sender},{_cap_token(i, 'previous identifier')},{cap_time(t, tz)}"
            for i, t in zip(previous_identifiers, previous_sent, strict=True)
        ]
        _sub(alert, "references", " ".join(triples))
    polygons = {
        t.code: [
            _ring_text(ring, f"town {t.code}")
            for ring in simplified_rings(t.polygon, max_points)
        ]
        for t in ordered
    }
    msg = _Message(event, ordered, mapping, sent, expires, tz, polygons)
    for language in mapping.languages:
        try:
            _info(alert, msg, language, (sender_name or mapping.sender_name)[language])
        except SchemaError as exc:
            raise SchemaError(f"warning event {event['event_id']}: {exc}") from None

    xml = etree.tostring(
        alert, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    validate_cap(xml)
    log.debug(
        "built CAP %s %s for warning %s", msg_type, identifier, event["warning_id"]
    )
    return identifier, xml


@dataclass(frozen=True)
class _Message:
    """What every info block of one message is built from."""

    event: Mapping[str, Any]
    towns: Sequence[TownLike]
    mapping: CapMapping
    sent: datetime
    expires: datetime
    tz: tzinfo
    polygons: Mapping[str, list[str]]


def _text_fields(msg: _Message, language: str, sender_name: str) -> dict[str, str]:
    event, mapping = msg.event, msg.mapping
    hazard, previous = event["hazard"], event.get("previous_level")
    event_name = mapping.event(hazard, str(event.get("level") or previous), language)
    if language.startswith("zh"):
        names = list(event["area"].get("names") or [t.name for t in msg.towns])
    else:
        names = [getattr(t, "name_en", None) or t.code for t in msg.towns]
    local = msg.sent.astimezone(msg.tz)
    start = local
    if event.get("valid_from"):
        start = parse_event_time(event, "valid_from").astimezone(msg.tz)
    return {
        "sender_name": sender_name,
        "area": mapping.area_text(names, language),
        "event": event_name,
        "previous_event": (
            mapping.event(hazard, previous, language) if previous else event_name
        ),
        "observed": mapping.observed_text(event.get("trigger") or {}, language),
        "observed_at": mapping.time_text(local, language),
        "valid_from": mapping.time_text(start, language),
        "valid_to": mapping.time_text(msg.expires.astimezone(msg.tz), language),
    }


def _info(
    alert: etree._Element, msg: _Message, language: str, sender_name: str
) -> None:
    event, mapping, tz = msg.event, msg.mapping, msg.tz
    hazard, level, action = event["hazard"], event.get("level"), event["action"]
    trigger = event.get("trigger") or {}
    profile = mapping.profile(hazard, level, str(trigger.get("branch", "observed")))
    fields = _text_fields(msg, language, sender_name)

    info = _sub(alert, "info")
    _sub(info, "language", language)
    _sub(info, "category", profile.category)
    _sub(info, "event", fields["event"])
    for rt in profile.response_types:
        _sub(info, "responseType", rt)
    _sub(info, "urgency", profile.urgency)
    _sub(info, "severity", profile.severity)
    _sub(info, "certainty", profile.certainty)
    if action != "cancel" and event.get("valid_from"):
        _sub(info, "onset", cap_time(parse_event_time(event, "valid_from"), tz))
    _sub(info, "expires", cap_time(msg.expires, tz))
    _sub(info, "senderName", sender_name)
    _sub(info, "headline", mapping.headline(action, language, **fields))
    _sub(info, "description", mapping.description(action, language, **fields))
    _sub(info, "instruction", mapping.instruction(hazard, level, language))

    for name, value in (
        ("ews:hazard", hazard),
        ("ews:level", level or "none"),
        ("ews:previous_level", event.get("previous_level") or "none"),
        ("ews:action", action),
        ("ews:warning_id", str(event["warning_id"])),
        ("ews:event_id", str(event["event_id"])),
        ("ews:sequence", str(event["sequence"])),
        ("ews:ruleset", str(event.get("ruleset", ""))),
    ):
        _pair(info, "parameter", name, value)
    for key, value in flatten_trigger(trigger):
        _pair(info, "parameter", f"ews:trigger.{key}", machine_value(value))

    _area(info, msg, language)


def envelope(identifier: str, xml: bytes, event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``cap_alert/1`` record of a built message.

    The CAP fields are read back from ``xml`` itself, so the record cannot
    disagree with the message it carries.
    """
    alert = cap_reader.read_alert(xml)
    if alert.identifier != identifier:
        raise CapError(
            f"envelope for {identifier} but the message is {alert.identifier}"
        )
    return {
        "schema": "cap_alert/1",
        "identifier": alert.identifier,
        "msgType": alert.msgType,
        "status": alert.status,
        "sent": cap_time(alert.sent, alert.sent.tzinfo or CHINA_TZ),
        "references": [r.identifier for r in alert.references],
        "warning_id": event["warning_id"],
        "event_id": event["event_id"],
        "hazard": event["hazard"],
        "level": event.get("level"),
        "action": event["action"],
        "area_codes": list(event["area"]["codes"]),
        "xml": xml.decode("utf-8"),
    }
