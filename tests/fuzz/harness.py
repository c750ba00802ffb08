"""What the fuzz tests share: settings, tallies, a memory bound, the agent path.

Every fuzz test generates at least :data:`TARGET_RECORDS` hostile records
of one feed kind (set ``EWS_FUZZ_RECORDS`` to run fewer while working on a
reader), feeds them to the real reader or to the real decode-and-score path
of the agents, and holds each outcome to the same properties:

- the only exceptions are the :mod:`schemas.errors` input tree
  (:class:`InputError` and :class:`CapError`); anything else fails the test;
- a record is either accepted or refused with a reason: a non-empty message
  that names the input (its file, schema, station, area or warning);
- on the agent path, an accepted record's outputs encode against their
  schemas, and a refusal becomes a ``deadletter/1`` message that validates;
- memory grows by less than :data:`MEMORY_BOUND_MB` over the run, as
  :mod:`tracemalloc` counts it (Python objects and numpy buffers).

Hypothesis runs derandomized with no example database, so a run is the
same on every machine and in CI.
"""

from __future__ import annotations

import gc
import math
import os
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings

from models.flood import FloodParams
from models.lifecycle import Timing
from models.quality import check_not_future
from models.region import default_region
from models.rules import load_ruleset
from pipeline.agents.cap import CapPublisher
from pipeline.agents.radar import RadarAreas
from pipeline.agents.scoring import FloodScorer, RainstormScorer, parse_time
from pipeline.deadletter import dead_letter
from pipeline.hazards import fire, geo
from pipeline.hazards.fire import fire_scorer
from pipeline.hazards.geo import geo_scorer
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import CapError, InputError

TARGET_RECORDS = int(os.environ.get("EWS_FUZZ_RECORDS", "10000"))
MEMORY_BOUND_MB = 50.0
REFUSALS = (InputError, CapError)


def fuzz_settings(batch: int, records: int = TARGET_RECORDS) -> settings:
    """Hypothesis settings for ``records`` records drawn ``batch`` at a time.

    ``batch`` is the smallest number of records one example holds; two
    examples more than strictly needed make up for any hypothesis discards.
    """
    examples = math.ceil(records / batch) + 2
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: a failure prints the example as found, at once; a
        # derandomized run finds it again.
        phases=(Phase.explicit, Phase.generate),
        # The examples are large; the failure names the record that broke.
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Tally:
    """Outcomes of one fuzz run, by class of refusal."""

    kind: str
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def records(self) -> int:
        return self.accepted + sum(self.refused.values())

    def accept(self, n: int = 1) -> None:
        self.accepted += n

    def refuse(self, reason_class: str, n: int = 1) -> None:
        self.refused[reason_class] += n

    def check_total(self, target: int = TARGET_RECORDS) -> None:
        assert self.records >= target, (
            f"{self.kind}: only {self.records} records fuzzed, expected {target}"
        )

    def __str__(self) -> str:
        classes = ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items()))
        return (
            f"{self.kind}: {self.records} records, {self.accepted} accepted, "
            f"refused: {classes or 'none'}"
        )


def check_reason(text: str, names: Iterable[str], what: str) -> None:
    """A refusal's message is not empty and names one of ``names``."""
    assert text.strip(), f"{what}: refused with an empty message"
    wanted = [n for n in names if n]
    assert any(n in text for n in wanted), (
        f"{what}: the reason {text[:300]!r} names none of {wanted[:6]}"
    )


@dataclass
class MemoryReport:
    """Traced memory at the start and end of a run, and its peak, bytes."""

    start: int = 0
    end: int = 0
    peak: int = 0

    @property
    def growth_mb(self) -> float:
        return (self.end - self.start) / 1e6

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.start) / 1e6


@contextmanager
def bounded_memory(
    what: str, limit_mb: float = MEMORY_BOUND_MB
) -> Iterator[MemoryReport]:
    """Trace allocations over the block; fail if they grow by ``limit_mb``."""
    report = MemoryReport()
    gc.collect()
    tracemalloc.start()
    try:
        report.start = tracemalloc.get_traced_memory()[0]
        yield report
        gc.collect()
        report.end, report.peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(
        f"\n{what}: memory grew {report.growth_mb:.1f} MB "
        f"(peak {report.peak_mb:.1f} MB above start)"
    )
    assert report.growth_mb < limit_mb, (
        f"{what}: memory grew {report.growth_mb:.1f} MB, bound {limit_mb} MB"
    )


def compact(raw: bytes | str, keep: int = 400) -> str:
    """A record for a failure message: its start and its length."""
    text = repr(raw[:keep])
    return text if len(raw) <= keep else f"{text}... ({len(raw)} bytes)"


def record_names(msg: Any) -> list[str]:
    """What a reason may name a record by: its schema and its identifiers."""
    names = ["record", "observation", "event", "frame", "station", "$"]
    if not isinstance(msg, dict):
        return names
    names.append(str(msg.get("schema", "")))
    for key in ("radar_id", "area_code", "warning_id", "event_id", "valid_time"):
        value = msg.get(key)
        if isinstance(value, str):
            names.append(value)
    for key in ("station", "gauge", "site", "sensor"):
        place = msg.get(key)
        if isinstance(place, dict) and isinstance(place.get("id"), str):
            names.append(place["id"])
    area = msg.get("area")
    if isinstance(area, dict) and isinstance(area.get("codes"), list):
        names += [c for c in area["codes"] if isinstance(c, str)]
    return names


# topic -> schema of its records, as pipeline.app.Wiring.register and the
# hazard agents declare them (obs.geo takes any of GEO_SCHEMAS)
AGENT_SCHEMAS = {
    "obs.radar": "radar_frame/1",
    "rain.area": "area_rain/1",
    "obs.gauge": "gauge_obs/1",
    "warnings": "warning_event/1",
    "obs.fire": "fire_obs/1",
    "obs.geo": "geo_rain/1, slope_sensor/1 or quake_event/1",
}
OUTPUT_TOPICS = {
    "obs.radar": "rain.area",
    "rain.area": "warnings",
    "obs.gauge": "warnings",
    "warnings": "alerts.cap",
    "obs.fire": "warnings",
    "obs.geo": "warnings",
}


class AgentPath:
    """The agents' work on one record, without Kafka.

    Built like :class:`pipeline.app.Wiring` (the same scoring objects from
    the same settings), with plain dicts for the faust tables. :meth:`feed`
    does what an agent does with a record's bytes: decode against the
    topic's schema, score, encode every output; a refusal becomes the dead
    letter the agent would publish.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings(archive_dir="")
        region = default_region()
        names = {t.code: t.name for t in region.towns}
        status = self.settings.extra.get("status", "Actual")
        rules = load_ruleset(self.settings.rainstorm_ruleset)
        self.rain = RainstormScorer(rules, names, status, frozenset(names))
        self.radar = RadarAreas(region, rules.area_statistic, rules.windows_h)
        self.flood = FloodScorer(
            FloodParams(),
            Timing(
                valid_h=self.settings.flood_valid_h,
                hold_min=self.settings.flood_hold_min,
                extend_before_min=self.settings.flood_extend_before_min,
            ),
            names,
            status,
        )
        self.cap = CapPublisher(region, self.settings)
        self.fire = fire_scorer(region, status)
        self.geo = geo_scorer(region, status)
        self.tables: dict[str, dict[str, Any]] = {
            name: {}
            for name in ("rain_windows", "rain_state", "gauge_state", "cap_history")
            + fire.TABLES
            + geo.TABLES
        }
        self.offset = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]]
        self._handlers = {
            "obs.radar": self._on_radar,
            "rain.area": self._on_area_rain,
            "obs.gauge": self._on_gauge,
            "warnings": self._on_warning,
            "obs.fire": self._on_fire,
            "obs.geo": self._on_geo,
        }

    def feed(self, topic: str, raw: bytes) -> tuple[list[bytes], dict | None]:
        """Outputs (encoded) of one record, or the dead letter it became.

        Any exception other than :data:`REFUSALS` propagates: the agent would
        file it as a bug.
        """
        self.offset += 1
        msg: Any = None
        try:
            if topic == "obs.geo":
                msg = geo.decode_geo(raw)
            else:
                msg = registry.decode(raw, AGENT_SCHEMAS[topic])
            outputs = self._handlers[topic](msg)
        except REFUSALS as exc:
            return [], self._letter(topic, raw, msg, exc)
        except Exception as exc:
            raise AssertionError(
                f"{type(exc).__name__} on a {topic} record: {str(exc)[:300]}\n"
                f"record: {compact(raw)}"
            ) from exc
        try:
            return [registry.encode(out) for out in outputs], None
        except InputError as exc:
            raise AssertionError(
                f"an output of an accepted {topic} record does not fit "
                f"{OUTPUT_TOPICS[topic]}'s schema: {exc}\nrecord: {compact(raw)}"
            ) from exc

    def _letter(
        self, topic: str, raw: bytes, msg: Any, exc: BaseException
    ) -> dict[str, Any]:
        letter = dead_letter(
            source=f"{topic} agent",
            exc=exc,
            original=raw,
            now=datetime.now(UTC),
            topic=topic,
            partition=0,
            offset=self.offset,
        )
        registry.encode(letter)  # raises if the letter is not deadletter/1
        names = [AGENT_SCHEMAS[topic], *record_names(msg)]
        check_reason(letter["reason"], names, f"{topic} record")
        return letter

    def _on_radar(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        self.radar.check_time(msg, datetime.now(UTC), self.settings.clock_skew_s)
        return self.radar.areas(msg, self.settings)

    def _on_area_rain(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        self.radar.check_time(
            {"valid_time": msg["time"]}, datetime.now(UTC), self.settings.clock_skew_s
        )
        code = msg["area_code"]
        windows, states = self.tables["rain_windows"], self.tables["rain_state"]
        window, state, events = self.rain.score(
            msg, windows.get(code), states.get(code)
        )
        if window is not None:
            windows[code] = window
        states[code] = state
        return events

    def _on_gauge(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        self.radar.check_time(
            {"valid_time": msg["time"]}, datetime.now(UTC), self.settings.clock_skew_s
        )
        sid = msg["station"]["id"]
        table = self.tables["gauge_state"]
        state, events = self.flood.score(msg, table.get(sid))
        table[sid] = state
        return events

    def _on_warning(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        table = self.tables["cap_history"]
        wid = msg["warning_id"]
        history, envelope = self.cap.publish(msg, table.get(wid))
        if envelope is None:
            return []
        table[wid] = history
        return [envelope]

    def _on_fire(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        # as pipeline.hazards.fire.register's agent
        check_not_future(
            parse_time(msg["time"]),
            datetime.now(UTC),
            where=f"station {msg['station']['id']}",
            allowed_skew=timedelta(seconds=self.settings.clock_skew_s),
        )
        stations, counties = (self.tables[name] for name in fire.TABLES)
        return self.fire.score(msg, stations, counties)

    def _on_geo(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        # as pipeline.hazards.geo.register's agent
        check_not_future(
            parse_time(msg["time"]),
            datetime.now(UTC),
            where=f"obs.geo {msg['schema']} record",
            allowed_skew=timedelta(seconds=self.settings.clock_skew_s),
        )
        sites, towns = (self.tables[name] for name in geo.TABLES)
        return self.geo.score(msg, sites, towns)
