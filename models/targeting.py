"""From a CAP alert's area to the villages it covers and the channels serving them.

An alert's area is what its ``area`` blocks say, over all its ``info``
blocks: polygons and circles (lon/lat degrees, circle radii in km) and
geocodes. A village belongs to the area when its point lies in a polygon
(boundary included) or within a circle, or when a geocode names its town:
a 9-digit NBS town code, a 12-digit one ending in ``000`` (the writer pads
town codes so), or a 6-digit county code for all its towns. The union is
taken, so a village that the simplified CAP polygon of its town misses by a
few metres is still reached through the town's geocode. Village points sit
in a shapely STRtree; a polygon query costs one tree search.

The channels of a village are its registered SMS recipients and its
loudspeakers (:mod:`models.channels`). Each target carries what it is worth
to :mod:`models.coverage`: a loudspeaker the persons it covers, a recipient
the account's ``people_per_recipient``.

Who an alert is meant to reach (its *audience*, persons per village):

- ``Actual``: everyone who lives in the area's villages, whether a channel
  serves them or not, so the coverage ratio says how many of the people in
  danger were told.
- ``Exercise`` and ``Test``: only the participants. SMS goes to recipients
  enrolled for drills (``drill = true``); a loudspeaker takes part only when
  the operator has enrolled it (:class:`LoudspeakerGroup`), because the
  registry has no drill flag for loudspeakers or villages and a public
  loudspeaker sounding a drill reaches people who never agreed to one. The
  audience of a village is then the most the drill's channels can reach
  there (the account with every drill target reached), rounded down.
- A ``Cancel``: the people the cancelled messages reached (see
  :func:`cancel_audience`); the "warning lifted" message goes to the
  targets that reached them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import shapely
from shapely.geometry import Point, Polygon

from models.channels import Inventory, Loudspeaker, Recipient, Village
from models.coverage import CoverageAccount, Overlap

Channel = Literal["sms", "loudspeaker"]

EARTH_RADIUS_KM = 6371.0088
DRILL_STATUSES = frozenset({"Exercise", "Test"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AlertArea:
    """The area of an alert: polygons (lon/lat), circles and geocoded codes.

    ``circles`` are ``(lon, lat, radius_km)``; ``codes`` are the geocode
    values as written (town, padded town or county codes).
    """

    polygons: tuple[Polygon, ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    codes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.polygons or self.circles or self.codes)


def area_of_alert(alert: object, geocode_prefix: str = "NBS") -> AlertArea:
    """The area of a :class:`connectors.cap_reader.CapAlert`, over all its infos.

    Only geocodes whose ``valueName`` starts with ``geocode_prefix`` are
    read as division codes; others (SAME, UGC, ...) name nothing here.
    """
    polygons: dict[bytes, Polygon] = {}
    circles: dict[tuple[float, float, float], None] = {}
    codes: dict[str, None] = {}
    for info in getattr(alert, "infos", ()):
        for area in info.areas:
            for polygon in area.polygons:
                polygons.setdefault(shapely.to_wkb(polygon), polygon)
            for c in area.circles:
                circles[(c.lon, c.lat, c.radius_km)] = None
            for name, value in area.geocodes:
                if name.startswith(geocode_prefix):
                    codes[value.strip()] = None
    return AlertArea(tuple(polygons.values()), tuple(circles), tuple(codes))


def town_codes_of(code: str) -> tuple[str, str]:
    """``(kind, key)`` of a division code: ``("town", 9 digits)`` or ``("county", 6)``.

    Raises
    ------
    ValueError
        A code that is not 6, 9 or 12 digits, or 12 digits not ending in 000.
    """
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise ValueError(f"geocode {code!r} is not a 6-, 9- or 12-digit NBS code")
    if len(code) == 12:
        if not code.endswith("000"):
            raise ValueError(
                f"geocode {code!r} names a village-level division; expected a town "
                "code padded with 000"
            )
        code = code[:9]
    return ("county", code) if len(code) == 6 else ("town", code)


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance between two points (degrees), km (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Target:
    """One recipient or loudspeaker an alert can be sent to.

    ``people`` is the population a loudspeaker covers (persons); 0 for a
    recipient, whose worth is the coverage account's ``people_per_recipient``.
    """

    target_id: str
    channel: Channel
    village_id: str
    town_code: str
    people: float
    language: str


def recipient_target(r: Recipient) -> Target:
    return Target(r.recipient_id, "sms", r.village_id, r.town_code, 0.0, r.language)


def loudspeaker_target(ls: Loudspeaker) -> Target:
    return Target(
        ls.loudspeaker_id,
        "loudspeaker",
        ls.village_id,
        ls.town_code,
        float(ls.population_covered),
        ls.language,
    )


@dataclass(frozen=True)
class LoudspeakerGroup:
    """A set of loudspeakers named by ids, village ids, town or county codes.

    Built from a comma-separated text: ``""`` (none), ``"all"``, or any mix
    of loudspeaker ids, village ids, 9-digit town codes and 6-digit county
    codes. It says which loudspeakers are enrolled for drills, or (in a dry
    run) which ones are offline.
    """

    everyone: bool = False
    keys: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> LoudspeakerGroup:
        items = {part.strip() for part in text.split(",") if part.strip()}
        if "all" in items:
            return cls(everyone=True)
        return cls(keys=frozenset(items))

    def contains(self, ls: Loudspeaker) -> bool:
        if self.everyone:
            return True
        keys = (ls.loudspeaker_id, ls.village_id, ls.town_code, ls.town_code[:6])
        return any(k in self.keys for k in keys)


def targets_in(
    inventory: Inventory,
    village_ids: Iterable[str],
    *,
    drill: bool,
    enrolment: LoudspeakerGroup,
) -> list[Target]:
    """The loudspeakers and recipients of some villages, as targets.

    With ``drill`` only recipients enrolled for drills and loudspeakers in
    ``enrolment`` are taken.
    """
    ids = set(village_ids)
    towns = {inventory.villages[v].town_code for v in ids if v in inventory.villages}
    speakers = [
        loudspeaker_target(ls)
        for ls in inventory.loudspeakers_in(towns)
        if ls.village_id in ids and (not drill or enrolment.contains(ls))
    ]
    recipients = [
        recipient_target(r)
        for r in inventory.recipients_in(towns, drill_only=drill)
        if r.village_id in ids
    ]
    return speakers + recipients


@dataclass(frozen=True)
class Audience:
    """Whom an alert is meant to reach, and through which targets.

    ``villages`` maps village id to the persons of the audience there;
    ``population_in_area`` counts everyone living in the area's villages.
    """

    villages: Mapping[str, int]
    population_in_area: int
    town_codes: tuple[str, ...]
    targets: tuple[Target, ...]
    drill: bool

    @property
    def population(self) -> int:
        """Persons the alert is meant to reach (the coverage denominator)."""
        return sum(self.villages.values())

    def by_channel(self, channel: Channel) -> list[Target]:
        return [t for t in self.targets if t.channel == channel]


def reachable(
    populations: Mapping[str, int],
    targets: Iterable[Target],
    people_per_recipient: float,
    overlap: Overlap,
) -> dict[str, float]:
    """Persons per village that ``targets`` reach if every one of them is reached."""
    live = {v: p for v, p in populations.items() if p > 0}
    if not live:
        return dict.fromkeys(populations, 0.0)
    account = CoverageAccount(live, _EPOCH, people_per_recipient, overlap)
    for t in targets:
        if t.channel == "sms":
            account.add_sms(t.target_id, t.village_id, _EPOCH)
        else:
            account.add_loudspeaker(t.target_id, t.village_id, t.people, _EPOCH)
    villages = account.compute().villages
    return {v: villages[v].any if v in villages else 0.0 for v in populations}


class Targeting:
    """Finds the villages, people and channels of an alert area.

    Parameters
    ----------
    inventory : Inventory
        Villages, recipients and loudspeakers.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._villages: tuple[Village, ...] = tuple(inventory.villages.values())
        self._tree = shapely.STRtree([Point(v.lon, v.lat) for v in self._villages])
        self._by_town: dict[str, list[Village]] = {}
        for v in self._villages:
            self._by_town.setdefault(v.town_code, []).append(v)

    def villages_in(self, area: AlertArea) -> list[Village]:
        """Villages of ``area``, in registry order (see the module docstring)."""
        hits: set[int] = set()
        for polygon in area.polygons:
            found = self._tree.query(polygon, predicate="intersects")
            hits.update(int(i) for i in found)
        for lon, lat, radius_km in area.circles:
            # A box a little larger than the circle, then the exact distance.
            dlat = radius_km / 111.0 + 1e-6
            dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
            box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
            for i in self._tree.query(box):
                v = self._villages[int(i)]
                if distance_km(lon, lat, v.lon, v.lat) <= radius_km:
                    hits.add(int(i))
        index = {v.village_id: i for i, v in enumerate(self._villages)}
        for code in area.codes:
            kind, key = town_codes_of(code)
            if kind == "town":
                members = self._by_town.get(key, [])
            else:
                members = [
                    v for c, vs in self._by_town.items() if c[:6] == key for v in vs
                ]
            hits.update(index[v.village_id] for v in members)
        return [self._villages[i] for i in sorted(hits)]

    def audience(
        self,
        area: AlertArea,
        *,
        status: str,
        enrolment: LoudspeakerGroup,
        people_per_recipient: float,
        overlap: Overlap = "max",
    ) -> Audience:
        """Whom an alert of ``status`` over ``area`` is for, and its targets."""
        villages = self.villages_in(area)
        towns = tuple(sorted({v.town_code for v in villages}))
        drill = status in DRILL_STATUSES
        targets = tuple(
            targets_in(
                self.inventory,
                (v.village_id for v in villages),
                drill=drill,
                enrolment=enrolment,
            )
        )
        populations = {v.village_id: v.population for v in villages}
        if drill:
            most = reachable(populations, targets, people_per_recipient, overlap)
            populations = {v: int(math.floor(most[v] + 1e-9)) for v in populations}
        return Audience(
            villages={v: p for v, p in populations.items() if p > 0},
            population_in_area=sum(v.population for v in villages),
            town_codes=towns,
            targets=tuple(t for t in targets if populations.get(t.village_id, 0) > 0),
            drill=drill,
        )


def cancel_audience(
    populations: Mapping[str, int],
    reached: Iterable[Target],
    people_per_recipient: float,
    overlap: Overlap = "max",
    *,
    drill: bool = False,
) -> Audience:
    """The audience of a Cancel: the people the cancelled messages reached.

    Parameters
    ----------
    populations : mapping of str to int
        Audience persons per village of the messages being cancelled.
    reached : iterable of Target
        The targets those messages reached (each once).
    people_per_recipient : float
        Persons one delivered recipient stands for.
    overlap : {"max", "independent"}
        As in :mod:`models.coverage`.
    """
    targets = tuple(reached)
    most = reachable(populations, targets, people_per_recipient, overlap)
    villages = {v: int(math.floor(p + 1e-9)) for v, p in most.items()}
    villages = {v: p for v, p in villages.items() if p > 0}
    return Audience(
        villages=villages,
        population_in_area=sum(villages.values()),
        town_codes=tuple(sorted({t.town_code for t in targets})),
        targets=tuple(t for t in targets if t.village_id in villages),
        drill=drill,
    )
