"""USGS earthquake GeoJSON summary feeds.

A feed (``all_day.geojson``, ``significant_month.geojson`` ...) is a
FeatureCollection whose ``metadata`` gives ``generated`` (ms since the
epoch), ``url``, ``title``, ``api`` (the feed version) and ``count``, and
whose features are events with a Point ``[lon, lat, depth_km]`` and
properties such as ``mag``, ``magType``, ``place``, ``time`` and
``updated`` (ms since the epoch, UTC), ``type`` (``earthquake``,
``quarry blast`` ...) and ``status``.

Every feature becomes either an event or a rejection, so ``events`` plus
``rejected`` always accounts for all of them; the feed's own ``count`` is
kept to compare. Older feed versions lack some properties (``title`` before
api 1.0.13); those are optional here. A missing magnitude is kept as None.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.quake import QuakeEvent
from models.quality import Rejection
from schemas.errors import (
    ConfigError,
    InputError,
    ParseError,
    PhysicalError,
    SchemaError,
)

__all__ = ["QuakeFeed", "parse_feed", "read_feed"]

logger = logging.getLogger(__name__)

DEPTH_RANGE_KM = (-10.0, 800.0)
MAGNITUDE_RANGE = (-3.0, 10.0)


@dataclass
class QuakeFeed:
    """A parsed feed: its metadata, the events and the features refused."""

    title: str
    url: str
    api: str
    generated: datetime
    count: int
    events: list[QuakeEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _ms(value: Any, what: str, where: str) -> datetime:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SchemaError(f"{where}: {what} {value!r}; expected ms since the epoch")
    try:
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # NaN, or a time before year 1 or after 9999
        raise SchemaError(
            f"{where}: {what} {value!r} ms since the epoch is no time ews can hold"
        ) from None


def _event(feature: dict[str, Any], where: str) -> QuakeEvent:
    try:
        props = feature["properties"]
        geometry = feature["geometry"]
        event_id = str(feature["id"])
    except (KeyError, TypeError):
        raise SchemaError(
            f"{where}: a feature needs id, geometry and properties"
        ) from None
    if not isinstance(props, dict):
        raise SchemaError(
            f"{where}: properties {str(props)[:60]!r}; expected an object"
        )
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise SchemaError(f"{where}: geometry {geometry!r}; expected a Point")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise SchemaError(
            f"{where}: coordinates {coords!r}; expected [lon, lat, depth]"
        )
    lon, lat = float(coords[0]), float(coords[1])
    depth_km = float(coords[2]) if len(coords) > 2 and coords[2] is not None else None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise PhysicalError(f"{where}: position ({lon}, {lat}) is off the globe")
    if depth_km is not None and not DEPTH_RANGE_KM[0] <= depth_km <= DEPTH_RANGE_KM[1]:
        raise PhysicalError(f"{where}: depth {depth_km} km; expected {DEPTH_RANGE_KM}")

    mag = props.get("mag")
    if mag is not None:
        mag = float(mag)
        if not (math.isfinite(mag) and MAGNITUDE_RANGE[0] <= mag <= MAGNITUDE_RANGE[1]):
            raise PhysicalError(f"{where}: magnitude {mag}; expected {MAGNITUDE_RANGE}")
    time = _ms(props.get("time"), "time", where)
    updated = props.get("updated")
    return QuakeEvent(
        event_id=event_id,
        time=time,
        lon=lon,
        lat=lat,
        depth_km=depth_km,
        magnitude=mag,
        magnitude_type=props.get("magType"),
        place=props.get("place"),
        event_type=str(props.get("type") or "earthquake"),
        status=props.get("status"),
        updated=_ms(updated, "updated", where) if updated is not None else time,
    )


def parse_feed(data: bytes | str, source: str = "<feed>") -> QuakeFeed:
    """Parse the bytes of a GeoJSON summary feed."""
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ParseError(f"{source}: not JSON ({str(exc)[:200]})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise SchemaError(f"{source}: expected a GeoJSON FeatureCollection")
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise SchemaError(f"{source}: metadata is not an object")
    features = doc.get("features")
    if not isinstance(features, list):
        raise SchemaError(f"{source}: 'features' is not a list")
    try:
        feed = QuakeFeed(
            title=str(meta.get("title", "")),
            url=str(meta.get("url", "")),
            api=str(meta.get("api", "")),
            generated=_ms(meta.get("generated"), "metadata.generated", source),
            count=int(meta["count"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SchemaError(f"{source}: metadata lacks a numeric count") from None

    for index, feature in enumerate(features):
        where = f"{source} feature {index}"
        try:
            feed.events.append(_event(feature, where))
        except InputError as exc:
            feed.rejected.append(Rejection.from_error(where, exc))
        except (TypeError, ValueError, OverflowError) as exc:
            error = SchemaError(f"{where}: {str(exc)[:200]}")
            feed.rejected.append(Rejection.from_error(where, error))

    if len(features) != feed.count:
        logger.warning(
            "%s: metadata count %d but %d features", source, feed.count, len(features)
        )
    logger.info(
        "%s: %d events, %d refused (feed %s, api %s)",
        source,
        len(feed.events),
        len(feed.rejected),
        feed.title,
        feed.api,
    )
    return feed


def read_feed(path: str | Path) -> QuakeFeed:
    """Read a GeoJSON summary feed from a file."""
    path = Path(path)
    try:
        return parse_feed(path.read_bytes(), path.name)
    except FileNotFoundError:
        raise ConfigError(f"earthquake feed {path} does not exist") from None
