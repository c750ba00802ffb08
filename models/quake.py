"""Earthquakes that raise the geological-hazard risk of nearby towns.

Shaking loosens slopes: after a strong enough earthquake, slopes near the
epicentre fail more easily for days, under less rain. The rule here is
deliberately simple and fully configured (``[quake]`` of
``data/rules/geo_risk.toml``): an event of type ``earthquake`` with a
magnitude of at least ``min_magnitude`` raises the risk of every town whose
reference point lies within ``max_distance_km`` of the epicentre, from the
event's origin time for ``duration_h`` hours.

Distances are great-circle distances between epicentre and town point on a
sphere of the mean Earth radius, 6371.0088 km (haversine formula); depth is
not taken into account. Towns are given as ``code -> (lon, lat)`` in WGS84
degrees, so the caller chooses the reference point (seat of the town
government, or the centroid of its boundary).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.errors import ConfigError, PhysicalError

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class QuakeEvent:
    """One event of an earthquake catalogue or feed.

    Attributes
    ----------
    event_id : str
        The catalogue's identifier (``us2000abcd``).
    time : datetime
        Origin time (UTC).
    lon, lat : float
        Epicentre, WGS84 degrees.
    depth_km : float or None
        Hypocentre depth, km.
    magnitude : float or None
        Magnitude; None when the catalogue has none yet.
    magnitude_type : str or None
        ``mb``, ``ml``, ``Mw`` ...
    place : str or None
        The catalogue's description of the place.
    event_type : str
        ``earthquake``, ``quarry blast`` ...
    status : str or None
        ``automatic`` or ``reviewed``.
    updated : datetime or None
        Last update of the record (UTC).
    """

    event_id: str
    time: datetime
    lon: float
    lat: float
    depth_km: float | None
    magnitude: float | None
    magnitude_type: str | None = None
    place: str | None = None
    event_type: str = "earthquake"
    status: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class QuakeRaise:
    """A town whose geological risk an earthquake raises, and until when."""

    town: str
    event_id: str
    magnitude: float
    distance_km: float
    raised_from: datetime
    raised_until: datetime

    def active(self, now: datetime) -> bool:
        """Whether the raise holds at ``now``."""
        return self.raised_from <= now < self.raised_until


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (km) between two WGS84 points given in degrees."""
    for lon, lat in ((lon1, lat1), (lon2, lat2)):
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise PhysicalError(f"point ({lon}, {lat}) is not a lon/lat in degrees")
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = (
        math.sin(d_phi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def quake_risk(
    event: QuakeEvent,
    towns: Mapping[str, tuple[float, float]],
    max_distance_km: float,
    min_magnitude: float,
    duration_h: float,
    *,
    event_types: Iterable[str] = ("earthquake",),
) -> list[QuakeRaise]:
    """The towns an event raises, nearest first.

    Parameters
    ----------
    event : QuakeEvent
        The earthquake.
    towns : mapping of str to (float, float)
        Town code to reference point (lon, lat), degrees.
    max_distance_km : float
        Greatest epicentral distance that raises a town, km.
    min_magnitude : float
        Smallest magnitude that raises any town.
    duration_h : float
        How long after the origin time the raise lasts, hours.
    event_types : iterable of str
        Event types that count (quarry blasts do not, by default).

    Returns
    -------
    list of QuakeRaise
        One per raised town, nearest first; empty when the event is too
        small, of another type, without magnitude or too far from all.
    """
    if max_distance_km <= 0 or duration_h <= 0:
        raise ConfigError("quake max_distance_km and duration_h must be > 0")
    if event.event_type not in set(event_types):
        return []
    if event.magnitude is None or event.magnitude < min_magnitude:
        return []

    until = event.time + timedelta(hours=duration_h)
    raised = []
    for code, (lon, lat) in towns.items():
        distance_km = haversine_km(event.lon, event.lat, lon, lat)
        # XXX: one distance for every magnitude and depth; the reach of
        # earthquake-triggered landslides grows with magnitude (Keefer 1984).
        if distance_km <= max_distance_km:
            raised.append(
                QuakeRaise(
                    code,
                    event.event_id,
                    event.magnitude,
                    distance_km,
                    event.time,
                    until,
                )
            )
    raised.sort(key=lambda r: r.distance_km)
    if raised:
        log.info(
            "earthquake %s M%.1f raises %d towns (nearest %s at %.1f km) until %s",
            event.event_id,
            event.magnitude,
            len(raised),
            raised[0].town,
            raised[0].distance_km,
            until.isoformat(),
        )
    return raised


def towns_raised(
    events: Iterable[QuakeEvent],
    towns: Mapping[str, tuple[float, float]],
    now: datetime,
    max_distance_km: float,
    min_magnitude: float,
    duration_h: float,
) -> dict[str, QuakeRaise]:
    """The raise in force at ``now`` for each town: strongest event, then nearest."""
    active: dict[str, QuakeRaise] = {}
    for event in events:
        for r in quake_risk(event, towns, max_distance_km, min_magnitude, duration_h):
            if not r.active(now):
                continue
            held = active.get(r.town)
            if held is None or (r.magnitude, -r.distance_km) > (
                held.magnitude,
                -held.distance_km,
            ):
                active[r.town] = r
    return active
