"""The CAP reader on real messages, broken messages and hostile XML.

Expected values were read from the sample files themselves (see
data/samples/cap/SOURCES.md), not from the reader's output.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.cap_reader import (
    CapCircle,
    parse_circle,
    parse_polygon,
    read_alert,
    read_alerts,
)
from schemas.errors import CapError, ParseError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "cap"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


# (file, identifier, sent, msgType, number of info blocks, event of the first)
VALID = [
    (
        "NOAA_MultiplePolygons.txt",
        "NWS-IDP-PROD-4412298-3677414",
        datetime(2020, 8, 26, 4, 14, tzinfo=tz(-5)),
        "Update",
        1,
        "Hurricane Warning",
    ),
    (
        "australia_bom.cap",
        "AusBoM-IDN21033-2019-01-16T03:15:58+00:00",
        datetime(2019, 1, 16, 3, 15, 58, tzinfo=tz(0)),
        "Alert",
        1,
        "Thunderstorm",
    ),
    (
        "iceland_met_office.cap",
        "is-IMO-2a4c2db8-07fd-4a0f-b372-9667280d46d1",
        datetime(2021, 9, 10, 13, 30, 26, tzinfo=tz(0)),
        "Alert",
        2,
        "Veðurviðvörun: Vindur",
    ),
    (
        "mexico.xml",
        "avisossmn-ciclontropical-4063",
        datetime(2018, 10, 20, 7, 15, tzinfo=tz(-5)),
        "Update",
        1,
        "Aviso de Ciclón Tropical en el Pacífico",
    ),
    (
        "ph.cap",
        "103ff55e-b538-49a2-a94a-64470ddea2cc",
        datetime(2014, 11, 3, 14, 57, 33, tzinfo=tz(8)),
        "Alert",
        1,
        "Tropical Cyclone Alert",
    ),
    (
        "taiwan.cap",
        "WRA_ReservoirWarn_201405142010",
        datetime(2014, 5, 14, 20, 10, tzinfo=tz(8)),
        "Alert",
        1,
        "水庫洩洪",
    ),
    (
        "no_info_tag.cap",
        "1017033100951096-517189320160225203219800_Cancel",
        datetime(2016, 2, 25, 12, 47, 9, tzinfo=tz(-8)),
        "Cancel",
        0,
        None,
    ),
    (
        "australia.cap",
        "tag:www.rfs.nsw.gov.au2011-10-06:40184",
        datetime(2011, 10, 5, 23, 4, tzinfo=tz(10)),
        "Alert",
        2,
        "Fire",
    ),
    (
        "canada.cap",
        "2.49.0.1.124.6bddbc91.2012",
        datetime(2012, 5, 2, 23, 21, 4, tzinfo=tz(0)),
        "Update",
        2,
        "thunderstorm",
    ),
    (
        "earthquake-iso8859-1.cap",
        "USGS-earthquakes-usB000D5T4.3947362.7.20121014T225304.360Z.0",
        datetime(2012, 10, 14, 22, 53, 4, tzinfo=tz(0)),
        "Alert",
        1,
        "Earthquake",
    ),
    (
        "wcatwc-warning.cap",
        "PAAQ-2-lqw6d6",
        datetime(2011, 9, 2, 11, 36, 50, tzinfo=tz(0)),
        "Update",
        1,
        "Tsunami Warning",
    ),
    (
        "43b080713727.cap",
        "43b080713727",
        datetime(2003, 4, 2, 14, 39, 1, tzinfo=tz(-5)),
        "Alert",
        1,
        "Homeland Security Advisory System Update",
    ),
    (
        "thunderstorm.cap",
        "KSTO1055887203",
        datetime(2003, 6, 17, 14, 57, tzinfo=tz(-7)),
        "Alert",
        1,
        "SEVERE THUNDERSTORM",
    ),
]


def test_every_valid_sample_is_listed() -> None:
    assert sorted(p.name for p in (SAMPLES / "valid").iterdir()) == sorted(
        v[0] for v in VALID
    )


@pytest.mark.parametrize(
    ("name", "identifier", "sent", "msg_type", "n", "event"), VALID
)
def test_valid_sample_key_fields(name, identifier, sent, msg_type, n, event) -> None:
    alert = read_alert(sample(f"valid/{name}"))

    assert alert.version == "1.2"
    assert alert.identifier == identifier
    assert alert.sent == sent
    assert alert.sent.utcoffset() == sent.utcoffset()
    assert alert.msgType == msg_type
    assert len(alert.infos) == n
    if n:
        assert alert.infos[0].event == event


def test_noaa_polygons_in_lon_lat_order() -> None:
    (area,) = read_alert(sample("valid/NOAA_MultiplePolygons.txt")).infos[0].areas
    assert area.areaDesc == "Acadia"
    assert [len(p.exterior.coords) for p in area.polygons] == [4, 69]
    # the file's first pair is "30.094,-92.619": lat then lon
    assert area.polygons[0].exterior.coords[0] == (-92.619, 30.094)


def test_thunderstorm_polygon_and_geocodes() -> None:
    info = read_alert(sample("valid/thunderstorm.cap")).infos[0]
    (area,) = info.areas
    assert list(area.polygons[0].exterior.coords) == [
        (-120.14, 38.47),
        (-119.95, 38.34),
        (-119.74, 38.52),
        (-119.89, 38.62),
        (-120.14, 38.47),
    ]
    assert area.geocodes == (("SAME", "006109"), ("SAME", "006009"), ("SAME", "006003"))
    assert info.responseTypes == ("Shelter",)
    assert info.expires == datetime(2003, 6, 17, 16, 0, tzinfo=tz(-7))


def test_canada_two_languages_four_areas() -> None:
    alert = read_alert(sample("valid/canada.cap"))
    assert [i.language for i in alert.infos] == ["en-CA", "fr-CA"]
    assert [len(i.areas) for i in alert.infos] == [2, 2]
    counts = [len(p.exterior.coords) for a in alert.infos[0].areas for p in a.polygons]
    assert counts == [17, 38]
    assert alert.infos[1].areas[0].areaDesc == "Windsor - Leamington - comté d'Essex"


def test_taiwan_chinese_fields() -> None:
    info = read_alert(sample("valid/taiwan.cap")).infos[0]
    assert info.language == "zh-tw"
    assert info.categories == ("Infra",)
    assert (info.urgency, info.severity, info.certainty) == (
        "Future",
        "Moderate",
        "Observed",
    )
    assert info.headline == "明德水庫:洩洪中"
    assert info.parameter("alert_color") == "紅色"
    assert info.areas[0].geocodes == (("Taiwan_Geocode_100", "1000512"),)


def test_iso_8859_1_text_and_circle() -> None:
    info = read_alert(sample("valid/earthquake-iso8859-1.cap")).infos[0]
    assert info.areas[0].areaDesc.startswith(
        "47 miles (76 km) SSW of Usulután, Usulután"
    )
    assert info.areas[0].circles == (CapCircle(12.747, -88.783, 0.0),)


def test_cancel_without_info_keeps_its_reference() -> None:
    alert = read_alert(sample("valid/no_info_tag.cap"))
    (ref,) = alert.references
    assert ref.sender == "AtHoc"
    assert ref.identifier == "1017033100951096-517189320160225203219800"
    assert ref.sent == datetime(2016, 2, 25, 12, 32, 19, tzinfo=tz(-8))


def test_australia_circle_of_25_km() -> None:
    alert = read_alert(sample("valid/australia.cap"))
    assert alert.infos[0].areas[0].circles == (CapCircle(-35.3888, 147.0598, 25.0),)


# ---------------------------------------------------------------- wrappers --


def test_edxl_de_envelope_gives_seven_alerts() -> None:
    alerts = read_alerts(sample("wrapped/bushfire_valid.edxlde"))
    assert [a.identifier.rsplit(":", 1)[1] for a in alerts] == [
        "40500",
        "40444",
        "40394",
        "40428",
        "40484",
        "40487",
        "40435",
    ]
    assert alerts[0].infos[0].areas[0].circles == (CapCircle(-30.546, 151.9576, 0.0),)


def test_alerts_list_gives_seventeen_alerts() -> None:
    alerts = read_alerts(sample("wrapped/smhi.se.alerts.cap"))
    assert len(alerts) == 17
    assert alerts[0].identifier == "smhi-bpm-1552396920785"
    assert alerts[0].sent == datetime(2019, 3, 12, 14, 51, 46, tzinfo=tz(1))


def test_read_alert_refuses_an_envelope() -> None:
    with pytest.raises(CapError, match="not a CAP alert; read_alerts"):
        read_alert(sample("wrapped/bushfire_valid.edxlde"))


def test_atom_feed_is_refused_with_a_reason() -> None:
    feed = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>'
    with pytest.raises(CapError, match="Atom feed"):
        read_alerts(feed)


def test_unknown_root_is_refused() -> None:
    with pytest.raises(CapError, match="neither a CAP alert nor a supported"):
        read_alerts(b"<warnings/>")


# ----------------------------------------------------------------- invalid --

INVALID = [
    ("invalid.cap", r"line 9: .*'\{urn:oasis:names:tc:emergency:cap:1.2\}info'.*scope"),
    ("sweden.cap", r"line 17: .*senderName.*not expected"),
    ("invalid_xmlns.cap", r"namespace 'urn:oasis:names:tc:emergency:alerts:1.2'"),
    ("canada_errors.cap", r"references is empty"),
    ("CanadaNaad.xml", r"references is empty"),
    ("noaa_errors.cap", r"CAP 1.1 .*allow_cap11=True"),
]


def test_every_invalid_sample_is_listed() -> None:
    names = sorted(p.name for p in (SAMPLES / "invalid").iterdir())
    assert names == sorted([n for n, _ in INVALID] + ["bushfire_invalid.edxlde"])


@pytest.mark.parametrize(("name", "reason"), INVALID)
def test_invalid_sample_is_refused_with_its_fault(name: str, reason: str) -> None:
    with pytest.raises(CapError, match=reason):
        read_alerts(sample(f"invalid/{name}"))


def test_noaa_errors_with_cap11_allowed_fails_on_empty_enumerations() -> None:
    with pytest.raises(CapError, match=r"line 17: .*urgency.*The value ''"):
        read_alert(sample("invalid/noaa_errors.cap"), allow_cap11=True)


def test_broken_edxl_envelope_names_both_bad_alerts() -> None:
    with pytest.raises(CapError) as err:
        read_alerts(sample("invalid/bushfire_invalid.edxlde"))
    message = str(err.value)
    assert message.startswith("2 of 7 alerts fail")
    assert "CAP alert 2 of 7 in the EDXL-DE envelope" in message
    assert "identifier" in message
    assert "CAP alert 3 of 7 in the EDXL-DE envelope" in message
    assert "Foobar" in message


# ------------------------------------------------------------------ CAP 1.1 --


def test_cap11_is_read_only_when_allowed() -> None:
    data = sample("cap11/weather.cap")
    with pytest.raises(CapError, match="allow_cap11"):
        read_alert(data)
    alert = read_alert(data, allow_cap11=True)
    assert alert.version == "1.1"
    assert alert.identifier == (
        "NOAA-NWS-ALERTS-MT20100830100700TFXFlashFloodWatchTFX20100830180000MT"
    )
    assert alert.sent == datetime(2010, 8, 30, 4, 7, tzinfo=tz(-6))
    assert alert.infos[0].event == "Flash Flood Watch"
    assert alert.infos[0].areas[0].geocodes == (("FIPS6", "030049"), ("UGC", "MTZ014"))


def test_cap11_amber_alert() -> None:
    alert = read_alert(sample("cap11/KAR0-0306112239-SW.cap"), allow_cap11=True)
    assert alert.identifier == "KAR0-0306112239-SW"
    assert alert.infos[0].event == "Child Abduction"
    assert alert.infos[0].areas[0].areaDesc == "Los Angeles County"


# ---------------------------------------------------- rules beyond the XSD --

HEAD = (
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    "<identifier>{identifier}</identifier><sender>s@example.org</sender>"
    "<sent>2020-10-31T11:10:00+08:00</sent><status>Exercise</status>"
    "<msgType>{msg_type}</msgType><scope>Public</scope>{references}"
)
INFO = (
    "<info><category>Met</category><event>x</event><urgency>Expected</urgency>"
    "<severity>Minor</severity><certainty>Observed</certainty>"
    "<area><areaDesc>a</areaDesc>{shape}</area></info>"
)


def alert_xml(
    *,
    identifier: str = "id-1",
    msg_type: str = "Alert",
    references: str = "",
    info: bool = True,
    shape: str = "",
) -> bytes:
    text = HEAD.format(identifier=identifier, msg_type=msg_type, references=references)
    if info:
        text += INFO.format(shape=shape)
    return (text + "</alert>").encode("utf-8")


def test_hand_written_alert_is_read() -> None:
    ring = "<polygon>23.0,112.0 23.0,112.1 23.1,112.1 23.0,112.0</polygon>"
    alert = read_alert(alert_xml(shape=ring + "<circle>23.05,112.05 2.5</circle>"))
    area = alert.infos[0].areas[0]
    assert area.polygons[0].area == pytest.approx(0.005)
    assert area.circles == (CapCircle(23.05, 112.05, 2.5),)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"identifier": "id 1"}, "identifier 'id 1' is empty or holds a space"),
        ({"identifier": "id,1"}, "holds a space, comma"),
        (
            {"references": "<references>a,b</references>"},
            "not a sender,identifier,sent",
        ),
        (
            {"references": "<references>a,b,2020-10-31T11:10:00Z</references>"},
            "not of the form",
        ),
        ({"references": "<references> </references>"}, "references is empty"),
        ({"info": False}, "Alert without any info block"),
        ({"info": False, "msg_type": "Update"}, "Update without any info block"),
        (
            {"shape": "<polygon>23.0,112.0 23.0,112.1 23.1,112.1 23.1,112.0</polygon>"},
            "not closed",
        ),
        ({"shape": "<polygon>23.0,112.0 23.0,112.1 23.0,112.0</polygon>"}, "3 points"),
        ({"shape": "<polygon>23.0;112.0 1,2 3,4 23.0;112.0</polygon>"}, "lat,lon pair"),
        ({"shape": "<polygon>95,112 1,2 3,4 95,112</polygon>"}, "outside lat"),
        ({"shape": "<circle>23.0,112.0</circle>"}, "not 'lat,lon radius'"),
        ({"shape": "<circle>23.0,112.0 -1</circle>"}, "negative"),
    ],
)
def test_rules_beyond_the_schema(kwargs: dict, reason: str) -> None:
    with pytest.raises(CapError, match=reason):
        read_alert(alert_xml(**kwargs))


def test_cancel_without_info_is_allowed() -> None:
    refs = "<references>s@example.org,id-0,2020-10-31T10:10:00+08:00</references>"
    alert = read_alert(alert_xml(msg_type="Cancel", info=False, references=refs))
    assert alert.infos == ()
    assert alert.references[0].identifier == "id-0"


def test_schema_fault_carries_line_and_reason() -> None:
    bad = alert_xml().replace(b"<urgency>Expected", b"<urgency>Soon")
    with pytest.raises(CapError, match=r"line 1: .*urgency.*'Soon'"):
        read_alert(bad)


def test_polygon_and_circle_parsers() -> None:
    poly = parse_polygon("1,2 1,3 2,3 1,2")
    assert list(poly.exterior.coords) == [(2, 1), (3, 1), (3, 2), (2, 1)]
    assert parse_circle("-35.5,147 10") == CapCircle(-35.5, 147.0, 10.0)


# ------------------------------------------------------------ hostile input --


def test_external_entity_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        doc = (
            f'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "{target}">]>'
            + alert_xml(identifier="&xxe;").decode()
        ).encode()
        with pytest.raises(ParseError, match="DTD") as err:
            read_alert(doc)
        assert "TOP-SECRET-MARKER" not in str(err.value)
        assert "root:" not in str(err.value)


def test_external_entity_in_utf16_is_refused_after_parsing(tmp_path: Path) -> None:
    # UTF-16 hides "<!DOCTYPE" from the byte check, so the parser sees it.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    doc = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        f'<!DOCTYPE alert [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        + alert_xml(identifier="&xxe;").decode()
    ).encode("utf-16")
    assert b"<!DOCTYPE" not in doc
    with pytest.raises(ParseError, match="DTD") as err:
        read_alert(doc)
    assert "TOP-SECRET-MARKER" not in str(err.value)


def test_billion_laughs_is_refused() -> None:
    decl = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    )
    doc = f"<!DOCTYPE alert [{decl}]>" + alert_xml(identifier="&lol9;").decode()
    with pytest.raises(ParseError, match="DTD"):
        read_alert(doc.encode())
    # Past the byte check, libxml2 stops on the amplification before lxml's
    # own DTD check is reached; either way nothing is expanded.
    with pytest.raises(ParseError, match="DTD|entity amplification"):
        read_alert(doc.encode("utf-16"))


def test_external_dtd_is_refused() -> None:
    doc = b'<!DOCTYPE alert SYSTEM "file:///etc/passwd">' + alert_xml()
    with pytest.raises(ParseError, match="DTD"):
        read_alert(doc)


def test_oversize_input_is_refused_before_parsing() -> None:
    big = alert_xml().replace(b"<event>x", b"<event>" + b"x" * (1 << 20))
    with pytest.raises(ParseError, match=r"more than the 1048576 allowed"):
        read_alert(big)
    with pytest.raises(ParseError, match=r"more than the 100 allowed"):
        read_alert(alert_xml(), max_bytes=100)


def test_not_xml_and_not_bytes() -> None:
    with pytest.raises(ParseError, match="not well-formed"):
        read_alert(b"<alert><identifier>")
    with pytest.raises(ParseError, match="expected bytes"):
        read_alert(alert_xml().decode())  # type: ignore[arg-type]
