"""The hand-over of geological evidence to towns and fire codes to counties.

The agents split each scorer in two around a town- or county-keyed topic,
so that a town (county) is decided in one partition from all its sites
(stations), whichever workers hold them. Split that way, with each
partition's towns in a table of their own, the bundled exercise's records
must give the very events the one-table reference gives.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.scenario import load_scenario
from models.region import default_region
from pipeline.demo import DEFAULT_SCENARIO
from pipeline.hazards.fire import fire_scorer
from pipeline.hazards.geo import _hand_over, geo_scorer
from pipeline.topics import partition_of
from schemas import registry
from tests.fuzz.test_fuzz_hazard_agents import QUAKE
from tests.unit.test_schemas_registry import geo_rain

PARTITIONS = 4


@pytest.fixture(scope="module")
def records() -> list[Any]:
    return list(load_scenario(DEFAULT_SCENARIO).records())


def test_partition_of_is_the_crc32_of_the_key():
    # CRC-32 of "123456789" is 0xCBF43926 (the standard check value).
    assert partition_of("123456789", 4) == 0x26 % 4 == 2
    assert partition_of("123456789", 1) == 0


def test_a_gauge_record_hands_its_evidence_to_its_town():
    scorer = geo_scorer(default_region(), "Actual")
    sites: dict[str, Any] = {}
    (record,) = scorer.site_step(geo_rain(), sites)
    registry.validate(record, "geo_town/1")
    assert (record["kind"], record["town"], record["what"], record["name"]) == (
        "evidence",
        "441224001",
        "rain",
        "HC01-RG",
    )
    assert record["time"] == "2011-03-14T23:00:00-08:00"
    assert "rain:HC01-RG" in sites
    # the same record again is not newer than the site's last: no hand-over
    assert scorer.site_step(geo_rain(), sites) == []
    (part,) = _hand_over(record, PARTITIONS)
    assert part == ("441224001", partition_of("441224001", PARTITIONS), record)


def test_an_earthquake_goes_to_every_partition_with_its_own_towns():
    scorer = geo_scorer(default_region(), "Actual")
    (record,) = scorer.site_step(QUAKE, {})
    raised = record["raised"]
    assert raised, "an M5.5 20 km from the towns raises some"
    parts = _hand_over(record, PARTITIONS)
    assert [p for _, p, _ in parts] == list(range(PARTITIONS))
    joined: dict[str, Any] = {}
    for key, p, part in parts:
        registry.validate(part, "geo_town/1")
        assert key == "us1"
        assert all(partition_of(code, PARTITIONS) == p for code in part["raised"])
        joined |= part["raised"]
    assert joined == raised


def test_split_geological_scoring_decides_as_the_one_table_reference(records):
    geo = [r.value for r in records if r.topic == "obs.geo"]
    assert len(geo) > 1000  # gauges, sensors and the week's earthquakes
    scorer = geo_scorer(default_region(), "Actual")
    reference = []
    sites: dict[str, Any] = {}
    towns: dict[str, Any] = {}
    for msg in geo:
        reference += scorer.score(copy.deepcopy(msg), sites, towns)

    split = []
    sites = {}
    by_partition: list[dict[str, Any]] = [{} for _ in range(PARTITIONS)]
    for msg in geo:
        for record in scorer.site_step(copy.deepcopy(msg), sites):
            for _, p, part in _hand_over(record, PARTITIONS):
                registry.validate(part, "geo_town/1")
                split += scorer.town_step(
                    part,
                    by_partition[p],
                    lambda code, p=p: partition_of(code, PARTITIONS) == p,
                )
    assert len(reference) > 10
    assert sorted(e["event_id"] for e in split) == sorted(
        e["event_id"] for e in reference
    )
    assert {e["event_id"]: e for e in split} == {e["event_id"]: e for e in reference}


def test_split_fire_scoring_decides_as_the_one_table_reference(records):
    fire = [r.value for r in records if r.topic == "obs.fire"]
    assert len(fire) == 48  # the cffdrs test season's 48 noons, at one station
    scorer = fire_scorer(default_region(), "Actual")
    reference = []
    stations: dict[str, Any] = {}
    counties: dict[str, Any] = {}
    for msg in fire:
        reference += scorer.score(copy.deepcopy(msg), stations, counties)

    split = []
    stations = {}
    by_partition: list[dict[str, Any]] = [{} for _ in range(PARTITIONS)]
    for msg in fire:
        for record in scorer.station_step(copy.deepcopy(msg), stations):
            registry.validate(record, "fire_county/1")
            p = partition_of(record["county"], PARTITIONS)
            split += scorer.county_step(record, by_partition[p])
    assert len(reference) > 0
    assert [e["event_id"] for e in split] == [e["event_id"] for e in reference]
    assert split == reference
