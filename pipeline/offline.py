"""A scenario scored in one process, without Kafka.

The same scoring objects the agents use (:mod:`pipeline.agents`), with
dicts in place of tables and lists in place of topics. It answers "what
should the pipeline decide on this data?" in seconds: the verification
and the tests use it as the reference that a run through the broker must
reproduce exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.scenario import Scenario
from models.flood import FloodParams
from models.lifecycle import Timing
from models.region import default_region, load_region
from models.rules import load_ruleset
from pipeline.agents.cap import CapPublisher
from pipeline.agents.radar import RadarAreas
from pipeline.agents.scoring import FloodScorer, RainstormScorer
from pipeline.hazards.fire import fire_scorer
from pipeline.hazards.geo import geo_scorer
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import CapError, InputError


@dataclass
class OfflineRun:
    """Everything an offline run produced."""

    area_rain: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def score_scenario(
    scenario: Scenario, settings: Settings | None = None, *, keep_rain: bool = False
) -> OfflineRun:
    """Score every record of ``scenario`` as the worker would."""
    settings = settings or Settings(archive_dir="")
    region = (
        default_region()
        if scenario.region == "zhaoqing"
        else load_region(scenario.region)
    )
    names = {t.code: t.name for t in region.towns}
    rules = load_ruleset(scenario.rulesets.get("rainstorm", settings.rainstorm_ruleset))
    radar = RadarAreas(region, rules.area_statistic, rules.windows_h)
    rain = RainstormScorer(rules, names, scenario.status, frozenset(names))
    flood = FloodScorer(
        FloodParams(),
        Timing(
            valid_h=settings.flood_valid_h,
            hold_min=settings.flood_hold_min,
            extend_before_min=settings.flood_extend_before_min,
        ),
        names,
        scenario.status,
    )
    cap = CapPublisher(region, settings)
    fire = fire_scorer(region, scenario.status)
    geo = geo_scorer(region, scenario.status)
    fire_tables: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    geo_tables: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    windows: dict[str, Any] = {}
    states: dict[str, Any] = {}
    gauges: dict[str, Any] = {}
    history: dict[str, Any] = {}
    run = OfflineRun()

    def publish(events: list[dict[str, Any]]) -> None:
        for ev in events:
            registry.validate(ev, "warning_event/1")
            run.events.append(ev)
            try:
                history[ev["warning_id"]], env = cap.publish(
                    ev, history.get(ev["warning_id"])
                )
            except (CapError, InputError) as exc:
                run.rejected.append((ev["event_id"], str(exc)))
                continue
            if env is not None:
                run.alerts.append(env)

    for rec in scenario.records():
        if not isinstance(rec.value, dict):
            run.rejected.append((rec.feed, "raw bytes"))
            continue
        try:
            registry.validate(rec.value)
            if rec.topic == "obs.radar":
                for msg in radar.areas(rec.value, settings):
                    if keep_rain:
                        run.area_rain.append(msg)
                    code = msg["area_code"]
                    windows[code], states[code], evs = rain.score(
                        msg, windows.get(code), states.get(code)
                    )
                    publish(evs)
            elif rec.topic == "rain.area":
                code = rec.value["area_code"]
                windows[code], states[code], evs = rain.score(
                    rec.value, windows.get(code), states.get(code)
                )
                publish(evs)
            elif rec.topic == "obs.gauge":
                sid = rec.value["station"]["id"]
                gauges[sid], evs = flood.score(rec.value, gauges.get(sid))
                publish(evs)
            elif rec.topic == "obs.fire":
                publish(fire.score(rec.value, *fire_tables))
            elif rec.topic == "obs.geo":
                publish(geo.score(rec.value, *geo_tables))
        except InputError as exc:
            run.rejected.append((rec.feed, str(exc)))
    return run
