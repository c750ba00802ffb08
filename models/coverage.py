"""Coverage accounting: how many of the people in an alert area were reached.

An account starts from the villages of the area and their populations
(persons), takes confirmed reach events (an SMS delivered to a recipient, a
loudspeaker that played) and computes the share of the people reached, then
and over time. It follows the scorer pattern: init, add, merge, compute, so
the same account serves one gateway, several gateways merged, or a replay.

Per village ``v`` with population ``P_v``:

- SMS: every delivered recipient stands for ``people_per_recipient`` persons
  (a household, say), so ``S_v = min(P_v, people_per_recipient * n_v)`` where
  ``n_v`` is the number of distinct recipients of ``v`` delivered to.
- Loudspeaker: a loudspeaker that played reaches the persons it covers,
  ``L_v = min(P_v, sum of population_covered of the loudspeakers played)``.
- Any channel: a person reached by both is counted once. With
  ``overlap="max"`` (the default) ``A_v = max(S_v, L_v)``: the SMS recipients
  are assumed to live within earshot of the loudspeaker, which is the
  smallest number of people the two channels together can have reached, so
  the coverage is never overstated. With ``overlap="independent"`` the two
  channels are taken as independent draws from the village,
  ``A_v = S_v + L_v - S_v * L_v / P_v``.

The area totals are sums over villages and ``coverage_ratio = sum(A_v) /
sum(P_v)``. Reach events are identified by recipient or loudspeaker id: a
repeated receipt counts once, at its earliest time; events for villages
outside the area are counted in ``ignored`` and otherwise left out.

The timeline is ``(t, coverage_ratio)`` after each event in time order,
starting with ``(started_at, 0.0)``; the time to target is the first ``t``
whose ratio reaches ``target`` (0.95 by default), in seconds after
``started_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Overlap = Literal["max", "independent"]
ReachChannel = Literal["sms", "loudspeaker"]

DEFAULT_TARGET = 0.95


@dataclass(frozen=True)
class ReachEvent:
    """One confirmed reach: a recipient delivered to or a loudspeaker played.

    ``people`` is the population a loudspeaker covers (persons); for an SMS
    it is ignored, the account's ``people_per_recipient`` applies.
    """

    channel: ReachChannel
    target_id: str
    village_id: str
    at: datetime
    people: float = 0.0


@dataclass(frozen=True)
class VillageCoverage:
    """People of one village reached per channel and in all (persons)."""

    population: int
    sms: float
    loudspeaker: float
    any: float


@dataclass(frozen=True)
class Coverage:
    """The result of an account: totals in persons, ratio, timeline, time to target."""

    population: int
    reached_sms: float
    reached_loudspeaker: float
    reached_any: float
    coverage_ratio: float
    timeline: list[tuple[datetime, float]]
    target: float
    time_to_target_s: float | None
    villages: dict[str, VillageCoverage]
    ignored: int


@dataclass
class _VillageState:
    population: int
    recipients: int = 0
    loudspeaker_people: float = 0.0


@dataclass
class CoverageAccount:
    """Accumulates reach events of one alert over the villages of its area.

    Parameters
    ----------
    populations : mapping of str to int
        Village id -> population (persons) of every village in the area.
    started_at : datetime
        When dispatch started; the timeline and time to target count from it.
    people_per_recipient : float
        Persons one delivered SMS recipient stands for (> 0).
    overlap : {"max", "independent"}
        How SMS and loudspeaker reach combine within a village (see module).
    """

    populations: Mapping[str, int]
    started_at: datetime
    people_per_recipient: float = 1.0
    overlap: Overlap = "max"
    events: dict[tuple[str, str], ReachEvent] = field(default_factory=dict)
    ignored: int = 0

    def __post_init__(self) -> None:
        if sum(self.populations.values()) <= 0:
            raise ValueError("coverage area has no population; expected persons > 0")
        if any(p < 0 for p in self.populations.values()):
            raise ValueError("village population is negative; expected persons >= 0")
        if self.people_per_recipient <= 0:
            raise ValueError(
                f"people_per_recipient is {self.people_per_recipient}; expected > 0"
            )
        if self.overlap not in ("max", "independent"):
            raise ValueError(
                f"overlap {self.overlap!r} is not one of 'max', 'independent'"
            )

    def add(self, event: ReachEvent) -> None:
        """Take one reach event (repeats keep the earliest time)."""
        if event.village_id not in self.populations:
            self.ignored += 1
            return
        key = (event.channel, event.target_id)
        known = self.events.get(key)
        if known is None or event.at < known.at:
            self.events[key] = event

    def add_sms(self, recipient_id: str, village_id: str, at: datetime) -> None:
        """Take a delivered SMS to ``recipient_id`` of ``village_id``."""
        self.add(ReachEvent("sms", recipient_id, village_id, at))

    def add_loudspeaker(
        self, loudspeaker_id: str, village_id: str, people: float, at: datetime
    ) -> None:
        """Take a loudspeaker that played to ``people`` persons of ``village_id``."""
        self.add(ReachEvent("loudspeaker", loudspeaker_id, village_id, at, people))

    def merge(self, other: CoverageAccount) -> CoverageAccount:
        """Return a new account holding the events of both (same area and settings)."""
        if (
            dict(self.populations) != dict(other.populations)
            or self.people_per_recipient != other.people_per_recipient
            or self.overlap != other.overlap
        ):
            raise ValueError(
                "cannot merge coverage accounts of different areas or settings"
            )
        merged = CoverageAccount(
            populations=self.populations,
            started_at=min(self.started_at, other.started_at),
            people_per_recipient=self.people_per_recipient,
            overlap=self.overlap,
            events=dict(self.events),
            ignored=self.ignored + other.ignored,
        )
        for event in other.events.values():
            merged.add(event)
        return merged

    def _village_reach(self, state: _VillageState) -> tuple[float, float, float]:
        population = state.population
        sms = min(float(population), self.people_per_recipient * state.recipients)
        loudspeaker = min(float(population), state.loudspeaker_people)
        if population == 0:
            return 0.0, 0.0, 0.0
        if self.overlap == "max":
            return sms, loudspeaker, max(sms, loudspeaker)
        return sms, loudspeaker, sms + loudspeaker - sms * loudspeaker / population

    def compute(self, target: float = DEFAULT_TARGET) -> Coverage:
        """Return totals, ratio, timeline and time to ``target`` (ratio 0..1)."""
        if not 0.0 < target <= 1.0:
            raise ValueError(f"coverage target {target} is outside (0, 1]")
        states = {v: _VillageState(p) for v, p in self.populations.items()}
        population = sum(self.populations.values())
        reached = {v: (0.0, 0.0, 0.0) for v in states}
        total_any = 0.0
        timeline: list[tuple[datetime, float]] = [(self.started_at, 0.0)]
        time_to_target: float | None = None

        ordered = sorted(self.events.values(), key=lambda e: (e.at, e.target_id))
        for event in ordered:
            state = states[event.village_id]
            if event.channel == "sms":
                state.recipients += 1
            else:
                state.loudspeaker_people += event.people
            before = reached[event.village_id][2]
            reached[event.village_id] = self._village_reach(state)
            total_any += reached[event.village_id][2] - before

            ratio = total_any / population
            timeline.append((event.at, ratio))
            if time_to_target is None and ratio >= target - 1e-12:
                time_to_target = (event.at - self.started_at).total_seconds()

        villages = {
            v: VillageCoverage(states[v].population, *reached[v]) for v in states
        }
        reached_any = sum(c.any for c in villages.values())
        return Coverage(
            population=population,
            reached_sms=sum(c.sms for c in villages.values()),
            reached_loudspeaker=sum(c.loudspeaker for c in villages.values()),
            reached_any=reached_any,
            coverage_ratio=reached_any / population,
            timeline=timeline,
            target=target,
            time_to_target_s=time_to_target,
            villages=villages,
            ignored=self.ignored,
        )
