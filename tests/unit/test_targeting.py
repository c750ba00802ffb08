"""Targeting against a hand-made inventory, every number worked out here.

Two towns of the schematic Zhaoqing region: 城东街道 (441202001, lon
112.44-112.50) and 城西街道 (441202003, lon 112.37-112.44), both lat
23.1-23.2.

=======  =========  ==========  =====  ==================  ===========
village  town       lon, lat    pop.   recipients (drill)  loudspeaker
=======  =========  ==========  =====  ==================  ===========
A1       441202001  112.45 23.12  1000   a1 (yes), a2        L-A1 900
A2       441202001  112.49 23.19   500   a3                  -
B1       441202003  112.40 23.15  2000   b1 (yes), b2 (yes)  L-B1 1500
B2       441202003  112.38 23.11   800   -                   L-B2 700
=======  =========  ==========  =====  ==================  ===========
"""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from connectors.cap_reader import read_alert
from models.channels import load_inventory
from models.targeting import (
    AlertArea,
    LoudspeakerGroup,
    Targeting,
    area_of_alert,
    cancel_audience,
    distance_km,
    town_codes_of,
)
from tests.unit.test_dispatch_support import (
    TOWN_A,
    TOWN_B,
    alert_of,
    event,
    write_inventory,
)

VILLAGES = [
    ("A1", TOWN_A, 1000, 112.45, 23.12),
    ("A2", TOWN_A, 500, 112.49, 23.19),
    ("B1", TOWN_B, 2000, 112.40, 23.15),
    ("B2", TOWN_B, 800, 112.38, 23.11),
]
RECIPIENTS = [
    ("a1", "+99900000000001", TOWN_A, "A1", True),
    ("a2", "+99900000000002", TOWN_A, "A1", False),
    ("a3", "+99900000000003", TOWN_A, "A2", False),
    ("b1", "+99900000000004", TOWN_B, "B1", True),
    ("b2", "+99900000000005", TOWN_B, "B1", True),
]
LOUDSPEAKERS = [
    ("L-A1", "A1", TOWN_A, 900),
    ("L-B1", "B1", TOWN_B, 1500),
    ("L-B2", "B2", TOWN_B, 700),
]


@pytest.fixture
def targeting(tmp_path):
    folder = write_inventory(tmp_path / "inv", VILLAGES, RECIPIENTS, LOUDSPEAKERS)
    return Targeting(load_inventory(folder))


def ids(villages):
    return [v.village_id for v in villages]


def test_a_polygon_takes_the_villages_whose_point_lies_in_it(targeting):
    west = Polygon([(112.39, 23.10), (112.46, 23.10), (112.46, 23.16), (112.39, 23.16)])
    assert ids(targeting.villages_in(AlertArea(polygons=(west,)))) == ["A1", "B1"]


def test_a_circle_takes_the_villages_within_its_radius(targeting):
    # B1 is 0.02 deg of longitude and 0.04 of latitude from B2: about 4.9 km.
    assert distance_km(112.38, 23.11, 112.40, 23.15) == pytest.approx(4.88, abs=0.05)
    assert ids(targeting.villages_in(AlertArea(circles=((112.38, 23.11, 1.0),)))) == [
        "B2"
    ]
    wide = AlertArea(circles=((112.38, 23.11, 5.0),))
    assert ids(targeting.villages_in(wide)) == ["B1", "B2"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (TOWN_A, ["A1", "A2"]),
        (TOWN_B + "000", ["B1", "B2"]),  # the writer's 12-digit padding
        ("441202", ["A1", "A2", "B1", "B2"]),  # the whole county
    ],
)
def test_geocodes_name_towns_or_counties(targeting, code, expected):
    assert ids(targeting.villages_in(AlertArea(codes=(code,)))) == expected


def test_polygon_and_geocode_are_united(targeting):
    east_corner = Polygon(
        [(112.48, 23.18), (112.5, 23.18), (112.5, 23.2), (112.48, 23.2)]
    )
    area = AlertArea(polygons=(east_corner,), codes=(TOWN_B,))
    assert ids(targeting.villages_in(area)) == ["A2", "B1", "B2"]


def test_bad_geocodes_are_refused():
    with pytest.raises(ValueError, match="village-level"):
        town_codes_of("441202001001")
    with pytest.raises(ValueError, match="6-, 9- or 12-digit"):
        town_codes_of("4412")


def test_area_of_a_written_alert_has_the_town_polygon_and_geocode():
    record = alert_of(event([TOWN_A]))
    area = area_of_alert(read_alert(record["xml"].encode()))
    assert area.codes == (TOWN_A,)
    assert len(area.polygons) == 1
    assert area.polygons[0].contains(
        Polygon([(112.45, 23.12), (112.451, 23.12), (112.451, 23.121)])
    )


def test_an_actual_alert_is_for_everyone_in_the_area(targeting):
    audience = targeting.audience(
        AlertArea(codes=("441202",)),
        status="Actual",
        enrolment=LoudspeakerGroup(),
        people_per_recipient=100,
    )
    assert dict(audience.villages) == {"A1": 1000, "A2": 500, "B1": 2000, "B2": 800}
    assert audience.population == audience.population_in_area == 4300
    assert sorted(t.target_id for t in audience.by_channel("sms")) == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
    ]
    speakers = {t.target_id: t.people for t in audience.by_channel("loudspeaker")}
    assert speakers == {"L-A1": 900, "L-B1": 1500, "L-B2": 700}


def test_an_exercise_is_for_drill_recipients_and_enrolled_loudspeakers(targeting):
    area = AlertArea(codes=("441202",))
    none = targeting.audience(
        area, status="Exercise", enrolment=LoudspeakerGroup(), people_per_recipient=100
    )
    # a1 stands for 100 of A1; b1, b2 for 200 of B1; nobody in A2 or B2.
    assert dict(none.villages) == {"A1": 100, "B1": 200}
    assert none.population == 300 and none.population_in_area == 4300
    assert sorted(t.target_id for t in none.targets) == ["a1", "b1", "b2"]

    town_b = LoudspeakerGroup.parse(TOWN_B)
    enrolled = targeting.audience(
        area, status="Test", enrolment=town_b, people_per_recipient=100
    )
    # B1: max(200, 1500); B2: its loudspeaker's 700.
    assert dict(enrolled.villages) == {"A1": 100, "B1": 1500, "B2": 700}
    assert sorted(t.target_id for t in enrolled.by_channel("loudspeaker")) == [
        "L-B1",
        "L-B2",
    ]
    independent = targeting.audience(
        area,
        status="Exercise",
        enrolment=town_b,
        people_per_recipient=100,
        overlap="independent",
    )
    # B1: 200 + 1500 - 200 * 1500 / 2000 = 1550.
    assert independent.villages["B1"] == 1550


def test_a_cancel_is_for_the_people_the_cancelled_alert_reached(targeting):
    reached = [
        t
        for t in targeting.audience(
            AlertArea(codes=("441202",)),
            status="Actual",
            enrolment=LoudspeakerGroup(),
            people_per_recipient=100,
        ).targets
        if t.target_id in ("a1", "L-B1")
    ]
    audience = cancel_audience({"A1": 1000, "B1": 2000}, reached, 100)
    assert dict(audience.villages) == {"A1": 100, "B1": 1500}
    assert audience.population == 1600
    assert sorted(t.target_id for t in audience.targets) == ["L-B1", "a1"]


def test_loudspeaker_groups_match_ids_villages_towns_and_counties(targeting):
    speakers = {ls.loudspeaker_id: ls for ls in targeting.inventory.loudspeakers}
    assert LoudspeakerGroup.parse("").contains(speakers["L-A1"]) is False
    assert LoudspeakerGroup.parse("all").contains(speakers["L-A1"])
    assert LoudspeakerGroup.parse("B2").contains(speakers["L-B2"])
    assert LoudspeakerGroup.parse(" L-A1 , x").contains(speakers["L-A1"])
    assert LoudspeakerGroup.parse("441202").contains(speakers["L-B1"])
    assert not LoudspeakerGroup.parse(TOWN_A).contains(speakers["L-B1"])
