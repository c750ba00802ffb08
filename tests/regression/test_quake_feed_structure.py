"""GeoJSON earthquake feeds of the wrong shape crashed the reader.

Properties that are not an object (AttributeError), metadata that is a list
(AttributeError), a count of Infinity (OverflowError), a time past year
9999 (OverflowError in fromtimestamp) and deep nesting (RecursionError).
"""

from __future__ import annotations

import json

import pytest

from connectors.scenario import SAMPLES_DIR
from connectors.usgs_quake import parse_feed
from schemas.errors import ParseError, SchemaError

FEED = json.loads(
    (SAMPLES_DIR / "geology" / "usgs_quake" / "all_day.geojson").read_text("utf-8")
)


def feed_with(features: list, **meta) -> bytes:
    metadata = {**FEED["metadata"], "count": len(features), **meta}
    doc = {"type": "FeatureCollection", "metadata": metadata, "features": features}
    return json.dumps(doc, allow_nan=True).encode()


def test_bad_features_are_refused_one_by_one() -> None:
    good = FEED["features"][0]
    far = json.loads(json.dumps(good))
    far["properties"]["time"] = 1e20
    feed = parse_feed(feed_with([good, dict(good, properties=[]), far]), "f")
    assert len(feed.events) == 1
    assert [r.reason_class for r in feed.rejected] == ["schema", "schema"]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"type": "FeatureCollection", "metadata": [], "features": []}),
        feed_with([], count=float("inf")).decode(),
    ],
)
def test_bad_metadata_refuses_the_feed(raw: str) -> None:
    with pytest.raises(SchemaError, match="metadata"):
        parse_feed(raw, "f")


def test_deep_nesting_refuses_the_feed() -> None:
    with pytest.raises(ParseError, match="not JSON"):
        parse_feed(b"[" * 200_000 + b"]" * 200_000, "f")
