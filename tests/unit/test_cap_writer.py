"""CAP alerts built from warning events: schema-valid, readable, deterministic."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import shapely
from lxml import etree
from shapely.geometry import MultiPolygon, Polygon, box

from connectors.cap_reader import read_alert
from connectors.cap_writer import alert_identifier, build_alert, envelope
from schemas import registry
from schemas.cap import CAP12_NS, validate_cap
from schemas.errors import (
    CapError,
    ConfigError,
    SchemaError,
    UnknownReferenceError,
)

CST = timezone(timedelta(hours=8))
SENDER = "ews@zhaoqing.example"
AGENCY = "ZQEW"

# By colour, as documented in schemas/cap_mapping.toml.
SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
URGENCY = {
    "blue": "Expected",
    "yellow": "Expected",
    "orange": "Expected",
    "red": "Immediate",
}
COLOUR_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
COLOUR_EN = {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"}
HAZARD_ZH = {
    "rainstorm": "暴雨",
    "flood": "洪水",
    "landslide": "地质灾害",
    "forest_fire": "森林火险",
}
HAZARD_EN = {
    "rainstorm": "Rainstorm",
    "flood": "Flood",
    "landslide": "Geological Hazard",
    "forest_fire": "Forest Fire Danger",
}
CATEGORY = {
    "rainstorm": "Met",
    "flood": "Met",
    "landslide": "Geo",
    "forest_fire": "Fire",
}
MSG_TYPE = {
    "issue": "Alert",
    "upgrade": "Update",
    "downgrade": "Update",
    "extend": "Update",
    "cancel": "Cancel",
}


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    polygon: Polygon | MultiPolygon
    name_en: str | None = None


def ring(lon: float, lat: float, r_deg: float, n: int) -> Polygon:
    return Polygon(
        [
            (
                lon + r_deg * math.cos(2 * math.pi * k / n),
                lat + r_deg * math.sin(2 * math.pi * k / n),
            )
            for k in range(n)
        ]
    )


TOWNS = [
    Town("441224104", "梁村镇", ring(112.20, 23.90, 0.05, 1000), "Liangcun"),
    Town("441224105", "大岗镇", box(112.30, 23.85, 112.40, 23.95)),
]


def event(**changes) -> dict:
    base = {
        "schema": "warning_event/1",
        "event_id": "rainstorm:441224104:1",
        "warning_id": "rainstorm:441224104",
        "hazard": "rainstorm",
        "ruleset": "cma-rainstorm",
        "area": {"codes": ["441224104", "441224105"], "names": ["梁村镇", "大岗镇"]},
        "level": "yellow",
        "previous_level": None,
        "action": "issue",
        "sequence": 1,
        "observed_at": "2020-10-31T03:10:00Z",
        "valid_from": "2020-10-31T03:10:00Z",
        "valid_to": "2020-10-31T09:10:00Z",
        "status": "Exercise",
        "trigger": {
            "value_mm": 52.3,
            "window_h": 3.0,
            "threshold_mm": 50.0,
            "branch": "observed",
        },
    }
    base.update(changes)
    if "event_id" not in changes:
        base["event_id"] = f"{base['warning_id']}:{base['sequence']}"
    return base


def build(
    ev: dict, previous: list[tuple[str, datetime]] = (), **kw
) -> tuple[str, bytes]:
    return build_alert(
        ev,
        towns=TOWNS,
        sender=SENDER,
        agency_code=AGENCY,
        previous_identifiers=[i for i, _ in previous],
        previous_sent=[t for _, t in previous],
        **kw,
    )


def polygon_texts(xml: bytes) -> list[str]:
    return [el.text for el in etree.fromstring(xml).iter(f"{{{CAP12_NS}}}polygon")]


CASES = [
    (hazard, level, action)
    for hazard in HAZARD_ZH
    for level in SEVERITY
    for action in ("issue", "upgrade", "downgrade", "extend", "cancel")
]


@pytest.mark.parametrize(("hazard", "level", "action"), CASES)
def test_round_trip(hazard: str, level: str, action: str) -> None:
    cancel = action == "cancel"
    ev = event(
        hazard=hazard,
        warning_id=f"{hazard}:441224104",
        level=None if cancel else level,
        previous_level=None if action == "issue" else level,
        action=action,
        sequence=1 if action == "issue" else 2,
    )
    prev = (
        []
        if action == "issue"
        else [("earlier-1", datetime(2020, 10, 31, 2, 0, tzinfo=CST))]
    )
    identifier, xml = build(ev, prev)
    validate_cap(xml)
    alert = read_alert(xml)
    if hazard in ("rainstorm", "flood"):  # the hazards warning_event/1 admits
        assert registry.validate(ev) == "warning_event/1"
        assert registry.validate(envelope(identifier, xml, ev)) == "cap_alert/1"

    assert alert.identifier == identifier
    assert (alert.sender, alert.status, alert.scope) == (SENDER, "Exercise", "Public")
    assert alert.msgType == MSG_TYPE[action]
    assert alert.sent == datetime(2020, 10, 31, 11, 10, tzinfo=CST)
    assert b"<sent>2020-10-31T11:10:00+08:00</sent>" in xml
    assert [r.identifier for r in alert.references] == [i for i, _ in prev]

    zh, en = alert.infos
    assert (zh.language, en.language) == ("zh-CN", "en")
    assert zh.event == f"{HAZARD_ZH[hazard]}{COLOUR_ZH[level]}预警"
    assert en.event == f"{HAZARD_EN[hazard]} {COLOUR_EN[level]} Warning"
    for info in (zh, en):
        assert info.categories == (CATEGORY[hazard],)
        if cancel:
            assert (info.urgency, info.severity, info.responseTypes) == (
                "Past",
                "Minor",
                ("AllClear",),
            )
            assert info.expires == alert.sent + timedelta(hours=1)
            assert info.onset is None
        else:
            assert info.urgency == URGENCY[level]
            assert info.severity == SEVERITY[level]
            assert info.certainty == "Observed"
            assert info.expires == datetime(2020, 10, 31, 17, 10, tzinfo=CST)
            assert info.onset == alert.sent
        assert info.expires > alert.sent
        assert info.parameter("ews:hazard") == hazard
        assert info.parameter("ews:action") == action
        assert info.parameter("ews:level") == ("none" if cancel else level)
        assert info.parameter("ews:warning_id") == f"{hazard}:441224104"
        assert float(info.parameter("ews:trigger.value_mm")) == 52.3
        assert info.headline and info.description and info.instruction
        (area,) = info.areas
        assert area.geocodes == (("NBS-2023", "441224104"), ("NBS-2023", "441224105"))
        assert len(area.polygons) == 2
    assert zh.areas[0].areaDesc == "梁村镇、大岗镇"
    assert en.areas[0].areaDesc == "Liangcun, 441224105"
    assert "52.3 mm" in zh.description and "52.3 mm" in en.description


def test_polygons_are_closed_and_short() -> None:
    _, xml = build(event())
    texts = polygon_texts(xml)
    assert len(texts) == 2 * 2  # two towns in each of two languages
    for text in texts:
        pairs = text.split()
        assert pairs[0] == pairs[-1]
        assert 4 <= len(pairs) <= 100
        lat, lon = (float(v) for v in pairs[0].split(","))
        assert 23 < lat < 24 and 112 < lon < 113


def test_simplified_polygon_keeps_the_town_shape() -> None:
    _, xml = build(event())
    written = read_alert(xml).infos[0].areas[0].polygons[0]
    town = TOWNS[0].polygon
    assert len(town.exterior.coords) == 1001
    assert written.symmetric_difference(town).area / town.area < 0.01


def test_box_is_written_exactly() -> None:
    _, xml = build(event())
    pairs = polygon_texts(xml)[1].split()
    assert sorted(set(pairs)) == sorted(
        {
            "23.85000,112.30000",
            "23.95000,112.30000",
            "23.95000,112.40000",
            "23.85000,112.40000",
        }
    )
    assert len(pairs) == 5


def test_multipolygon_gives_one_polygon_per_part_and_holes_are_dropped() -> None:
    holed = Polygon(
        box(112.0, 23.0, 112.2, 23.2).exterior.coords,
        [box(112.05, 23.05, 112.1, 23.1).exterior.coords],
    )
    towns = [
        Town(
            "441224104", "梁村镇", MultiPolygon([box(112.3, 23.0, 112.4, 23.1), holed])
        ),
        TOWNS[1],
    ]
    _, xml = build_alert(
        event(),
        towns=towns,
        sender=SENDER,
        agency_code=AGENCY,
        previous_identifiers=[],
        previous_sent=[],
    )
    polys = read_alert(xml).infos[0].areas[0].polygons
    assert len(polys) == 3
    assert polys[1].area == pytest.approx(0.04)
    assert not polys[1].interiors


def test_identifier_form_by_hand() -> None:
    ev = event(sequence=3, observed_at="2020-10-31T11:10:00+08:00")
    digest = hashlib.sha256(b"rainstorm:441224104").hexdigest()[:8]
    assert (
        alert_identifier(ev, AGENCY)
        == f"441224104000-ZQEW-20201031031000-RS{digest}-0003"
    )


def test_identifier_is_deterministic_and_unique() -> None:
    first = build(event())
    assert build(event()) == first
    seen = {first[0]}
    prev = [(first[0], datetime(2020, 10, 31, 11, 10, tzinfo=CST))]
    for seq in range(2, 12):
        ev = event(action="extend", previous_level="yellow", sequence=seq)
        seen.add(build(ev, prev)[0])
    flood = event(hazard="flood", warning_id="flood:441224104")
    seen.add(build(flood)[0])
    other = event(warning_id="rainstorm:441224104+441224105")
    seen.add(build(other)[0])
    assert len(seen) == 13


def test_references_accumulate_from_alert_to_cancel() -> None:
    steps = [
        event(),
        event(
            action="upgrade",
            level="orange",
            previous_level="yellow",
            sequence=2,
            observed_at="2020-10-31T04:00:00Z",
        ),
        event(
            action="extend",
            level="orange",
            previous_level="orange",
            sequence=3,
            observed_at="2020-10-31T05:00:00Z",
            valid_to="2020-10-31T11:00:00Z",
        ),
        event(
            action="cancel",
            level=None,
            previous_level="orange",
            sequence=4,
            observed_at="2020-10-31T08:00:00Z",
        ),
    ]
    history: list[tuple[str, datetime]] = []
    for n, ev in enumerate(steps):
        identifier, xml = build(ev, history)
        alert = read_alert(xml)
        assert alert.msgType == ["Alert", "Update", "Update", "Cancel"][n]
        assert [(r.sender, r.identifier, r.sent) for r in alert.references] == [
            (SENDER, i, t) for i, t in history
        ]
        history.append((identifier, alert.sent))
    assert len(history) == 4
    root = etree.fromstring(xml)
    refs = root.findtext(f"{{{CAP12_NS}}}references")
    assert len(refs.split(" ")) == 3
    assert refs.split(" ")[0] == f"{SENDER},{history[0][0]},2020-10-31T11:10:00+08:00"


def test_cancel_expiry_is_configurable() -> None:
    ev = event(action="cancel", level=None, previous_level="red", sequence=2)
    prev = [("earlier-1", datetime(2020, 10, 31, 10, 0, tzinfo=CST))]
    _, xml = build(ev, prev, cancel_expires_after=timedelta(hours=2))
    info = read_alert(xml).infos[0]
    assert info.expires == datetime(2020, 10, 31, 13, 10, tzinfo=CST)
    assert info.event == "暴雨红色预警"
    assert "解除" in info.headline


def test_times_drop_fractions_and_never_use_z() -> None:
    ev = event(observed_at="2020-10-31T03:10:00.987654+00:00")
    identifier, xml = build(ev)
    assert b"<sent>2020-10-31T11:10:00+08:00</sent>" in xml
    assert b"Z<" not in xml
    assert "-20201031031000-" in identifier


def test_forecast_trigger_is_likely() -> None:
    trig = {
        "value_mm": 80.0,
        "window_h": 3.0,
        "threshold_mm": 100.0,
        "branch": "forecast",
    }
    _, xml = build(event(level="red", trigger=trig))
    assert {i.certainty for i in read_alert(xml).infos} == {"Likely"}


def test_other_zone_is_written_with_its_offset() -> None:
    _, xml = build(event(), tz=UTC)
    assert b"<sent>2020-10-31T03:10:00+00:00</sent>" in xml


def test_envelope_matches_the_message() -> None:
    prev = [("earlier-1", datetime(2020, 10, 31, 10, 0, tzinfo=CST))]
    ev = event(action="upgrade", level="red", previous_level="yellow", sequence=2)
    identifier, xml = build(ev, prev)
    env = envelope(identifier, xml, ev)
    assert env == {
        "schema": "cap_alert/1",
        "identifier": identifier,
        "msgType": "Update",
        "status": "Exercise",
        "sent": "2020-10-31T11:10:00+08:00",
        "references": ["earlier-1"],
        "warning_id": "rainstorm:441224104",
        "event_id": "rainstorm:441224104:2",
        "hazard": "rainstorm",
        "level": "red",
        "action": "upgrade",
        "area_codes": ["441224104", "441224105"],
        "xml": xml.decode("utf-8"),
    }
    assert registry.validate(env) == "cap_alert/1"
    with pytest.raises(CapError, match="envelope for other"):
        envelope("other", xml, ev)


# ------------------------------------------------------------------ faults --


def test_expires_not_after_sent_is_refused() -> None:
    with pytest.raises(CapError, match="is not after sent"):
        build(event(valid_to="2020-10-31T03:10:00Z"))


def test_update_without_history_is_refused() -> None:
    with pytest.raises(CapError, match="no earlier message"):
        build(event(action="upgrade", level="red", previous_level="yellow", sequence=2))


def test_towns_must_match_the_area() -> None:
    with pytest.raises(UnknownReferenceError, match=r"missing \['441224105'\]"):
        build_alert(
            event(),
            towns=TOWNS[:1],
            sender=SENDER,
            agency_code=AGENCY,
            previous_identifiers=[],
            previous_sent=[],
        )


def test_projected_polygon_is_refused() -> None:
    towns = [replace(TOWNS[0], polygon=box(500000, 2500000, 510000, 2510000)), TOWNS[1]]
    with pytest.raises(CapError, match="not lon/lat degrees"):
        build_alert(
            event(),
            towns=towns,
            sender=SENDER,
            agency_code=AGENCY,
            previous_identifiers=[],
            previous_sent=[],
        )


@pytest.mark.parametrize(
    ("changes", "error", "reason"),
    [
        ({"action": "warn"}, SchemaError, "action 'warn'"),
        ({"status": "Draft"}, SchemaError, "status 'Draft'"),
        ({"level": None}, SchemaError, "issue event has no level"),
        ({"hazard": "tsunami"}, UnknownReferenceError, "hazard 'tsunami'"),
        ({"observed_at": "2020-10-31T03:10:00"}, SchemaError, "no UTC offset"),
        ({"sequence": 0}, SchemaError, "sequence 0"),
        (
            {"area": {"codes": ["44-12"], "names": ["x"]}},
            SchemaError,
            "not a 6-, 9- or 12-digit",
        ),
    ],
)
def test_bad_events_are_refused(changes: dict, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason):
        build(event(**changes))


def test_bad_sender_and_agency_are_refused() -> None:
    with pytest.raises(ConfigError, match="space, comma"):
        build_alert(
            event(),
            towns=TOWNS,
            sender="ews sender",
            agency_code=AGENCY,
            previous_identifiers=[],
            previous_sent=[],
        )
    with pytest.raises(ConfigError, match="agency code"):
        build_alert(
            event(),
            towns=TOWNS,
            sender=SENDER,
            agency_code="ZQ-EW",
            previous_identifiers=[],
            previous_sent=[],
        )
    with pytest.raises(SchemaError, match="1 previous identifiers but 0"):
        build_alert(
            event(),
            towns=TOWNS,
            sender=SENDER,
            agency_code=AGENCY,
            previous_identifiers=["a"],
            previous_sent=[],
        )


def c_shape() -> Polygon:
    """A thick C (outer radius 0.05 degree, inner 0.045) with a narrow gap."""
    n, gap = 400, 0.02
    angles = [gap + (2 * math.pi - 2 * gap) * k / n for k in range(n + 1)]
    outer = [(112 + 0.05 * math.cos(a), 23 + 0.05 * math.sin(a)) for a in angles]
    inner = [(112 + 0.045 * math.cos(a), 23 + 0.045 * math.sin(a)) for a in angles]
    return Polygon(outer + inner[::-1])


def test_hard_simplification_keeps_a_valid_ring() -> None:
    town = c_shape()
    # plain Douglas-Peucker at this tolerance breaks the C into pieces
    assert shapely.simplify(town, 0.02, preserve_topology=False).geom_type != "Polygon"
    towns = [Town("441224104", "梁村镇", town), TOWNS[1]]
    _, xml = build_alert(
        event(),
        towns=towns,
        sender=SENDER,
        agency_code=AGENCY,
        previous_identifiers=[],
        previous_sent=[],
        max_points=12,
    )
    written = read_alert(xml).infos[0].areas[0].polygons[0]
    assert written.is_valid
    assert 4 <= len(written.exterior.coords) <= 12
