"""Verification of warnings against what was then observed.

Counting follows the warning-verification practice of weather services,
per (area, colour, validity window), with counts that can be merged, so
the same code scores a replay, a streaming window and a whole season
(:meth:`WarningVerifier.counts`, :meth:`Counts.merge`).

Warning units
    A decision that sets colour c for an area (issue, upgrade, downgrade)
    opens a unit (area, c) unless one is open already; the unit stays open
    while the area's warning is c *or higher* (an upgrade says "at least
    this much", so it does not end the lower unit), up to the warning's
    validity (``valid_to``, moved on by every later decision). A downgrade
    below c or a cancel closes it at once.
Verified unit
    Its colour's criterion was met in its area at some observation time
    within the unit (``start <= t <= end``); the criterion of c is met when
    the observed level is c or higher (``>=`` on the rule's thresholds).
    A unit that is not verified is a false alarm.
Events
    A maximal run of observations of an area at level c or higher is an
    event (area, c). It is *warned* (a hit) when a unit of colour c or
    higher is open at some time of the run, and *missed* otherwise.
Lead time
    First time the criterion is met minus the start of the earliest unit of
    colour >= c open then; 0 when the warning came during the event
    (issued late) and 0 for a miss, in the mean.

Scores (``verified`` counted on units, ``hits`` and ``misses`` on events):
accuracy = verified / issued (= 1 - FAR), POD = hits / (hits + misses),
FAR = false alarms / issued, CSI = 1 / (1/POD + 1/(1 - FAR) - 1), which
is hits / (hits + misses + false alarms) when every hit is one verified
warning (the single contingency table of the textbooks).

Flood crossings: :class:`CrossingVerifier` counts upward crossings of a
section's warning level and every level above it, warned when a unit of
that colour or higher opened strictly before the crossing and was still
open at it; the lead time is the time from that unit's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.rules import COLOURS, RuleSet

LEAD_TARGET_MIN = 20.0


def rank(level: str | None) -> int:
    """Index of a colour on the ladder, -1 for none."""
    return -1 if level is None else COLOURS.index(level)


def criterion_level(rules: RuleSet, totals_mm: Mapping[float, float]) -> str | None:
    """Highest colour whose criterion the observed accumulations meet (``>=``).

    Parameters
    ----------
    rules : RuleSet
        The rule set in force.
    totals_mm : mapping of float to float
        Observed accumulation (mm) by window (h).
    """
    best: str | None = None
    for crit in rules.criteria:
        value = totals_mm.get(crit.window_h)
        if value is not None and value >= crit.threshold_mm:
            if rank(crit.level) > rank(best):
                best = crit.level
    return best


@dataclass
class Counts:
    """Mergeable counts of one colour (or of all colours together).

    Attributes
    ----------
    issued, verified : int
        Warning units and those verified.
    hits, misses : int
        Events warned and not warned.
    correct_negatives : int
        Cases with neither (only where the caller can count them).
    leads_min : list of float
        Lead time of every hit, minutes (0 for a late warning).
    """

    issued: int = 0
    verified: int = 0
    hits: int = 0
    misses: int = 0
    correct_negatives: int = 0
    leads_min: list[float] = field(default_factory=list)

    @property
    def false_alarms(self) -> int:
        return self.issued - self.verified

    def merge(self, other: Counts) -> Counts:
        """The counts of both (neither is changed)."""
        return Counts(
            self.issued + other.issued,
            self.verified + other.verified,
            self.hits + other.hits,
            self.misses + other.misses,
            self.correct_negatives + other.correct_negatives,
            self.leads_min + other.leads_min,
        )

    def scores(self) -> dict[str, float | int | None]:
        """Counts and scores; a score whose denominator is 0 is None."""
        events = self.hits + self.misses
        pod = self.hits / events if events else None
        accuracy = self.verified / self.issued if self.issued else None
        far = None if accuracy is None else 1.0 - accuracy
        csi = None
        if pod is not None and accuracy is not None:
            csi = 0.0 if pod == 0 or accuracy == 0 else 1 / (1 / pod + 1 / accuracy - 1)
        leads = self.leads_min
        return {
            "issued": self.issued,
            "verified": self.verified,
            "false_alarms": self.false_alarms,
            "hits": self.hits,
            "missed": self.misses,
            "accuracy": accuracy,
            "pod": pod,
            "far": far,
            "csi": csi,
            "mean_lead_min": sum(leads) / events if events else None,
            "share_lead_ge_20": (
                sum(1 for x in leads if x >= LEAD_TARGET_MIN) / len(leads)
                if leads
                else None
            ),
        }


def total(counts: Iterable[Counts]) -> Counts:
    """All counts merged."""
    out = Counts()
    for c in counts:
        out = out.merge(c)
    return out


@dataclass
class _Unit:
    start: float
    end: float
    verified: bool = False


@dataclass
class _Event:
    start: float
    lead_min: float | None = None


@dataclass
class _Area:
    units: dict[str, _Unit] = field(default_factory=dict)
    events: dict[str, _Event] = field(default_factory=dict)
    level: str | None = None
    last_t: float | None = None
    done: Counts = field(default_factory=Counts)


class WarningVerifier:
    """Units, events and their counts, per colour, fed in time order per area.

    Feed :meth:`add_warning` with every decision (issue, upgrade, downgrade,
    extend, cancel) and :meth:`add_observation` with every observed level;
    both in time order per area (a warning and the observation it was
    decided on may come in either order). :meth:`counts` closes what is
    still open and returns the counts by colour.
    """

    def __init__(self) -> None:
        self._areas: dict[str, _Area] = {}
        self._done: dict[str, Counts] = {c: Counts() for c in COLOURS}

    def _area(self, area: str) -> _Area:
        return self._areas.setdefault(area, _Area())

    def add_warning(
        self, area: str, level: str | None, t: float, valid_to: float
    ) -> None:
        """A decision: ``level`` in force from ``t`` (POSIX s) to ``valid_to``."""
        a = self._area(area)
        self._expire(a, t)
        for colour in list(a.units):
            if rank(colour) > rank(level):
                self._close_unit(a, colour, a.units.pop(colour))
        if level is None:
            return
        for colour, unit in a.units.items():
            if rank(colour) <= rank(level):
                unit.end = max(unit.end, valid_to)
        if level not in a.units:
            unit = _Unit(start=t, end=valid_to)
            a.units[level] = unit
            if a.last_t == t and rank(a.level) >= rank(level):
                unit.verified = True
        for colour, event in a.events.items():
            if event.lead_min is None and rank(level) >= rank(colour):
                # warned during the event: issued late, or at its first frame
                event.lead_min = max(0.0, (event.start - t) / 60.0)

    def add_observation(self, area: str, level: str | None, t: float) -> None:
        """The observed level of ``area`` at ``t`` (POSIX s)."""
        a = self._area(area)
        self._expire(a, t)
        a.level, a.last_t = level, t
        for colour, unit in a.units.items():
            if rank(level) >= rank(colour):
                unit.verified = True
        for colour in list(a.events):
            if rank(level) < rank(colour):
                self._close_event(a, colour, a.events.pop(colour))
        for colour in COLOURS[: rank(level) + 1]:
            if colour in a.events:
                continue
            event = _Event(start=t)
            starts = [u.start for c, u in a.units.items() if rank(c) >= rank(colour)]
            if starts:
                event.lead_min = max(0.0, (t - min(starts)) / 60.0)
            a.events[colour] = event

    def _expire(self, a: _Area, t: float) -> None:
        for colour in [c for c, u in a.units.items() if u.end < t]:
            self._close_unit(a, colour, a.units.pop(colour))

    def _close_unit(self, a: _Area, colour: str, unit: _Unit) -> None:
        for done in (self._done[colour], a.done):
            done.issued += 1
            done.verified += int(unit.verified)

    def _close_event(self, a: _Area, colour: str, event: _Event) -> None:
        for done in (self._done[colour], a.done):
            if event.lead_min is None:
                done.misses += 1
            else:
                done.hits += 1
                done.leads_min.append(event.lead_min)

    def per_area(self) -> dict[str, Counts]:
        """Counts of every colour together, per area (closed units and events)."""
        return {area: Counts().merge(a.done) for area, a in self._areas.items()}

    def snapshot(self) -> dict[str, Counts]:
        """Counts by colour as if everything open were closed now (no change)."""
        out = {c: Counts().merge(n) for c, n in self._done.items()}
        for a in self._areas.values():
            for colour, unit in a.units.items():
                out[colour].issued += 1
                out[colour].verified += int(unit.verified)
            for colour, event in a.events.items():
                if event.lead_min is None:
                    out[colour].misses += 1
                else:
                    out[colour].hits += 1
                    out[colour].leads_min.append(event.lead_min)
        return out

    def counts(self) -> dict[str, Counts]:
        """Close everything still open and return the counts by colour."""
        for a in self._areas.values():
            for colour in list(a.units):
                self._close_unit(a, colour, a.units.pop(colour))
            for colour in list(a.events):
                self._close_event(a, colour, a.events.pop(colour))
        return {c: Counts().merge(n) for c, n in self._done.items()}


@dataclass(frozen=True)
class Crossing:
    """One upward crossing of a level at a section.

    ``lead_min`` is None when no warning of the level's colour or higher
    had been issued before the crossing and was still in force at it.
    """

    station: str
    colour: str
    level: float
    time: float
    lead_min: float | None

    @property
    def warned(self) -> bool:
        return self.lead_min is not None


class CrossingVerifier:
    """Upward crossings of each section's levels and whether they were warned."""

    def __init__(self) -> None:
        self.crossings: list[Crossing] = []
        self._units = WarningVerifier()
        self._last: dict[str, float] = {}

    def add_warning(
        self, station: str, level: str | None, t: float, valid_to: float
    ) -> None:
        """A flood decision for the section ``station``."""
        self._units.add_warning(station, level, t, valid_to)

    def add_stage(
        self, station: str, stage: float, t: float, steps: list[tuple[str, float]]
    ) -> None:
        """An observed stage; ``steps`` are the (colour, stage) levels counted."""
        before = self._last.get(station)
        self._last[station] = stage
        if before is None:
            return
        a = self._units._area(station)
        self._units._expire(a, t)
        for colour, level in steps:
            if before < level <= stage:
                starts = [
                    u.start
                    for c, u in a.units.items()
                    if rank(c) >= rank(colour) and u.start < t
                ]
                lead = (t - min(starts)) / 60.0 if starts else None
                self.crossings.append(Crossing(station, colour, level, t, lead))

    def scores(self) -> dict[str, float | int | None]:
        """Crossings, those warned, the issuance rate and the shortest lead."""
        n = len(self.crossings)
        warned = [c for c in self.crossings if c.warned]
        leads = [c.lead_min or 0.0 for c in self.crossings]
        return {
            "crossings": n,
            "warned": len(warned),
            "issuance_rate": len(warned) / n if n else None,
            "min_lead_min": min(leads) if leads else None,
            "mean_lead_min": sum(leads) / n if n else None,
        }


def warning_steps(
    steps: list[tuple[str, float]], scheme: str
) -> list[tuple[str, float]]:
    """The levels a flood issuance rate counts: the warning level and above.

    Under ``cn_hydro`` the warning level (警戒水位) is the yellow step; a
    station with its own colour ladder counts its yellow step and above in
    the same way (blue is the approach, not a flood level).
    """
    del scheme  # both schemes put the warning level at yellow
    return [(c, s) for c, s in steps if rank(c) >= rank("yellow")]


class LiveScores:
    """Running verification of one worker's areas and sections, kept cheap.

    The agents feed each observation with the decisions taken on it; the
    counts are updated in place and :meth:`scores` reads them out (a walk
    over the areas' open units, no history is kept). In memory only: a
    restarted worker starts its scores afresh.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.rain = WarningVerifier()
        self.flood = CrossingVerifier()

    def rain_observed(
        self,
        area: str,
        totals_mm: Mapping[float, float],
        t: float,
        decisions: Iterable[tuple[str | None, float, float]] = (),
    ) -> None:
        """Observed totals of ``area`` at ``t`` and the (level, t, valid_to) decided."""
        for level, at, valid_to in decisions:
            self.rain.add_warning(area, level, at, valid_to)
        self.rain.add_observation(area, criterion_level(self.rules, totals_mm), t)

    def stage_observed(
        self,
        station: str,
        stage: float,
        t: float,
        steps: list[tuple[str, float]],
        decisions: Iterable[tuple[str | None, float, float]] = (),
    ) -> None:
        """A section's stage at ``t``, its counted levels and the decisions on it."""
        self.flood.add_stage(station, stage, t, steps)
        for level, at, valid_to in decisions:
            self.flood.add_warning(station, level, at, valid_to)

    def scores(self) -> dict[str, dict[str, float | int | None]]:
        """Rainstorm scores of every colour together, and the flood figures."""
        return {
            "rainstorm": total(self.rain.snapshot().values()).scores(),
            "flood": self.flood.scores(),
        }
