"""Recipient, loudspeaker and village registries: reading and checking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.channels import (
    RegistryError,
    load_inventory,
    load_loudspeakers,
    load_recipients,
    mask_phone,
)
from schemas.errors import ConfigError

VILLAGES = """\
village_id,town_code,name,population,lon,lat,language
441223101V001,441223101,Village one,1800,112.4,23.6,zh-CN
441223101V002,441223101,Village two,2200,112.41,23.61,yue
"""
RECIPIENTS = """\
recipient_id,phone,town_code,village_id,drill,language
R1,+99900000000001,441223101,441223101V001,true,zh-CN
R2,+99900000000002,441223101,441223101V002,false,yue
"""
LOUDSPEAKERS = """\
loudspeaker_id,village_id,town_code,lon,lat,population_covered,mqtt_topic,language
LS1,441223101V001,441223101,112.4,23.6,1700,ews/ls/441223/441223101V001/cmd,zh-CN
"""


def write(
    folder: Path, villages=VILLAGES, recipients=RECIPIENTS, speakers=LOUDSPEAKERS
):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "villages.csv").write_text(villages, encoding="utf-8")
    (folder / "recipients.csv").write_text(recipients, encoding="utf-8")
    (folder / "loudspeakers.csv").write_text(speakers, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("+99900020010000", "+99900*****0000"),
        ("+441632960000", "+44163***0000"),
        ("12345678", "****5678"),
        ("5678", "****"),  # never the whole number
        ("123456", "****56"),
    ],
)
def test_mask_phone(phone: str, masked: str):
    assert mask_phone(phone) == masked


def test_a_good_inventory_loads_and_selects_by_town(tmp_path: Path):
    inventory = load_inventory(write(tmp_path))

    assert sorted(inventory.villages) == ["441223101V001", "441223101V002"]
    assert inventory.villages["441223101V002"].population == 2200
    assert [r.recipient_id for r in inventory.recipients_in(["441223101"])] == [
        "R1",
        "R2",
    ]
    assert [
        r.recipient_id for r in inventory.recipients_in(["441223101"], drill_only=True)
    ] == ["R1"]
    assert inventory.recipients_in(["441223102"]) == []
    (speaker,) = inventory.loudspeakers_in(["441223101"])
    assert speaker.ack_topic == "ews/ls/441223/441223101V001/ack"


def test_recipient_repr_leaves_the_phone_out(tmp_path: Path):
    recipient = load_recipients(write(tmp_path) / "recipients.csv")[0]
    assert "+999" not in repr(recipient)


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ("R3,+86 138 1234,441223101,441223101V001,true,zh-CN", "phone", "E.164"),
        ("R3,+99900000000003,4412231,441223101V001,true,zh-CN", "town_code", "match"),
        ("R3,+99900000000003,441223101,441223101V001,maybe,zh-CN", "drill", "boolean"),
        ("R3,+99900000000003,441223101,441223101V001,true,fr", "language", "one of"),
        ("R1,+99900000000003,441223101,441223101V001,true,zh-CN", "id", "twice"),
        ("R3,,441223101,441223101V001,true,zh-CN", "phone", "E.164"),
    ],
)
def test_bad_recipient_rows_name_file_row_and_field(
    tmp_path: Path, row: str, field: str, expected: str
):
    path = tmp_path / "recipients.csv"
    path.write_text(RECIPIENTS + row + "\n", encoding="utf-8")

    with pytest.raises(RegistryError) as caught:
        load_recipients(path)

    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.path, error.row, error.field) == (path, 4, field)
    assert str(path) in str(error) and "row 4" in str(error) and expected in str(error)


def test_a_bad_phone_is_reported_masked(tmp_path: Path):
    path = tmp_path / "recipients.csv"
    path.write_text(RECIPIENTS + "R3,861381234567890,441223101,V1,true,\n")
    with pytest.raises(RegistryError) as caught:
        load_recipients(path)
    assert "861381234567890" not in str(caught.value)


def test_a_missing_column_is_named(tmp_path: Path):
    path = tmp_path / "loudspeakers.csv"
    path.write_text("loudspeaker_id,village_id\nLS1,V1\n")
    with pytest.raises(RegistryError, match="missing column.*town_code") as caught:
        load_loudspeakers(path)
    assert caught.value.row == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            ("ews/ls/441223/441223101V001/cmd", "ews/ls/+/441223101V001/cmd"),
            "mqtt_topic",
        ),
        ((",1700,", ",-5,"), "population_covered"),
        (("112.4,23.6", "212.4,23.6"), "lon"),
    ],
)
def test_bad_loudspeaker_rows(tmp_path: Path, change: tuple[str, str], field: str):
    path = tmp_path / "loudspeakers.csv"
    path.write_text(LOUDSPEAKERS.replace(*change))
    with pytest.raises(RegistryError) as caught:
        load_loudspeakers(path)
    assert (caught.value.row, caught.value.field) == (2, field)


def test_loudspeakers_from_geojson(tmp_path: Path):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [112.4, 23.6]},
        "properties": {
            "loudspeaker_id": "LS1",
            "village_id": "441223101V001",
            "town_code": "441223101",
            "population_covered": 1700,
            "mqtt_topic": "ews/ls/441223/441223101V001/cmd",
            "language": "yue",
        },
    }
    path = tmp_path / "loudspeakers.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))

    (speaker,) = load_loudspeakers(path)
    assert (speaker.lon, speaker.lat, speaker.language) == (112.4, 23.6, "yue")

    feature["geometry"] = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(RegistryError, match="row 1, field 'geometry'"):
        load_loudspeakers(path)


def test_inventory_cross_checks_villages_and_towns(tmp_path: Path):
    unknown = RECIPIENTS.replace("441223101V002,false", "441223101V009,false")
    with pytest.raises(RegistryError, match="441223101V009.*is not in") as caught:
        load_inventory(write(tmp_path / "a", recipients=unknown))
    assert (caught.value.row, caught.value.field) == (3, "village_id")

    wrong_town = LOUDSPEAKERS.replace(
        "LS1,441223101V001,441223101", "LS1,441223101V001,441223102"
    )
    with pytest.raises(RegistryError, match="disagrees") as caught:
        load_inventory(write(tmp_path / "b", speakers=wrong_town))
    assert (caught.value.row, caught.value.field) == (2, "town_code")
