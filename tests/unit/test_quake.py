"""USGS earthquake feeds and the earthquake rule for nearby towns."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyproj import Geod
from shapely.geometry import shape

from connectors.usgs_quake import parse_feed, read_feed
from models.quake import EARTH_RADIUS_KM, haversine_km, quake_risk, towns_raised
from schemas.errors import ParseError, SchemaError

ROOT = Path(__file__).resolve().parents[2]
QUAKE = ROOT / "data/samples/geology/usgs_quake"
TOWNS_FILE = ROOT / "data/regions/zhaoqing/towns.geojson"
DUANZHOU = "441202"
FALLBACK = {DUANZHOU: (112.47, 23.05)}  # Duanzhou, when the towns file is absent
RULE = {"max_distance_km": 50.0, "min_magnitude": 4.0, "duration_h": 72.0}


def _towns() -> dict[str, tuple[float, float]]:
    """Town code -> a point inside the town, from the region file if present."""
    if not TOWNS_FILE.exists():
        return dict(FALLBACK)
    doc = json.loads(TOWNS_FILE.read_text(encoding="utf-8"))
    towns = {}
    for feature in doc["features"]:
        point = shape(feature["geometry"]).representative_point()
        towns[feature["properties"]["code"]] = (point.x, point.y)
    return towns


@pytest.mark.parametrize(
    ("name", "count"),
    [("all_day.geojson", 146), ("significant_month.geojson", 6)],
)
def test_every_feature_is_ingested(name, count):
    feed = read_feed(QUAKE / name)
    raw = json.loads((QUAKE / name).read_text(encoding="utf-8"))
    assert feed.count == raw["metadata"]["count"] == count
    assert len(feed.events) == len(raw["features"]) == count
    assert feed.rejected == []
    assert len({e.event_id for e in feed.events}) == count


def test_event_fields_from_the_feed():
    feed = read_feed(QUAKE / "significant_month.geojson")
    chabu = next(e for e in feed.events if e.event_id == "usb000ije3")
    assert (chabu.lon, chabu.lat, chabu.depth_km) == (104.2427, 34.4991, 9.84)
    assert (chabu.magnitude, chabu.magnitude_type) == (5.9, "Mwp")
    assert chabu.time == datetime.fromtimestamp(1374450356.960, tz=UTC)
    assert feed.generated == datetime.fromtimestamp(1374857539, tz=UTC)
    assert feed.title == "USGS Significant Earthquakes, Past Month"


def test_quarry_blasts_are_ingested_but_raise_nothing():
    feed = read_feed(QUAKE / "all_day.geojson")
    blasts = [e for e in feed.events if e.event_type != "earthquake"]
    assert blasts and all(e.event_type.startswith("quarry") for e in blasts)
    towns = {"here": (blasts[0].lon, blasts[0].lat)}
    loud = replace(blasts[0], magnitude=6.0)
    assert quake_risk(loud, towns, **RULE) == []


def test_bad_features_are_rejected_not_lost():
    raw = json.loads((QUAKE / "significant_month.geojson").read_text(encoding="utf-8"))
    raw["features"][0]["geometry"]["coordinates"] = [200.0, 10.0, 5.0]
    raw["features"][1]["properties"]["mag"] = 12.5
    del raw["features"][2]["geometry"]
    feed = parse_feed(json.dumps(raw), "edited")
    assert len(feed.events) + len(feed.rejected) == feed.count == 6
    assert [r.reason_class for r in feed.rejected] == ["physical", "physical", "schema"]
    with pytest.raises(ParseError):
        parse_feed(b"{not json", "broken")
    with pytest.raises(SchemaError, match="FeatureCollection"):
        parse_feed(b'{"type": "Feature"}', "single")


def test_haversine_against_hand_and_ellipsoid():
    # one degree of the equator on the sphere: 2 pi R / 360
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(
        2 * 3.141592653589793 * EARTH_RADIUS_KM / 360
    )
    # Duanzhou to Huaiji town centre on the WGS84 ellipsoid, within 0.5 %
    _, _, metres = Geod(ellps="WGS84").inv(112.47, 23.05, 112.13, 23.866)
    assert haversine_km(112.47, 23.05, 112.13, 23.866) == pytest.approx(
        metres / 1000, rel=5e-3
    )


def test_event_near_a_zhaoqing_town_raises_it_and_far_ones_do_not():
    towns = _towns()
    target = min(c for c in towns if c.startswith(DUANZHOU))
    lon, lat = towns[target]
    origin = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    near = read_feed(QUAKE / "significant_month.geojson").events[0]
    near = replace(near, event_id="placed", lon=lon + 0.05, lat=lat, time=origin)

    raised = quake_risk(near, towns, **RULE)
    assert raised[0].town == target
    assert raised[0].distance_km == pytest.approx(
        haversine_km(lon + 0.05, lat, lon, lat)
    )
    assert raised[0].raised_until == origin + timedelta(hours=72)
    for r in raised:
        assert haversine_km(near.lon, near.lat, *towns[r.town]) <= 50.0
    far = [c for c, p in towns.items() if haversine_km(near.lon, near.lat, *p) > 50.0]
    assert not {r.town for r in raised} & set(far)

    weak = replace(near, magnitude=3.9)
    assert quake_risk(weak, towns, **RULE) == []
    unknown = replace(near, magnitude=None)
    assert quake_risk(unknown, towns, **RULE) == []


def test_the_real_feed_events_raise_no_zhaoqing_town():
    """M5.9 near Chabu, Gansu, 22 July 2013: about 1,500 km from Duanzhou."""
    feed = read_feed(QUAKE / "significant_month.geojson")
    for event in feed.events:
        assert quake_risk(event, _towns(), **RULE) == []


def test_raise_lasts_for_its_duration_only():
    towns = {DUANZHOU: FALLBACK[DUANZHOU]}
    origin = datetime(2026, 6, 1, tzinfo=UTC)
    base = read_feed(QUAKE / "significant_month.geojson").events[0]
    events = [
        replace(base, event_id="a", lon=112.5, lat=23.05, magnitude=4.5, time=origin),
        replace(base, event_id="b", lon=112.6, lat=23.05, magnitude=5.0, time=origin),
    ]
    at = towns_raised(events, towns, origin + timedelta(hours=71), **RULE)
    assert at[DUANZHOU].event_id == "b"  # the stronger, though farther
    assert towns_raised(events, towns, origin + timedelta(hours=72), **RULE) == {}
    assert towns_raised(events, towns, origin - timedelta(seconds=1), **RULE) == {}
