"""From rain, slope sensors and earthquakes to town geological-hazard warnings.

:class:`GeoScorer` takes one ``obs.geo`` record (``geo_rain/1``,
``slope_sensor/1`` or ``quake_event/1``) and the table entries it touches
and returns the warning events to publish; the faust agent
(:mod:`pipeline.hazards.geo`) and the offline reference
(:mod:`pipeline.offline`) both call it, with faust tables or plain dicts.

A gauge or sensor record updates its own entry in the site table
(:mod:`pipeline.hazards.geo_evidence`) and then the entry of every town it
stands for in the town table, which holds the latest evidence per gauge
(``rain``) and per sensor (``sensors``), the earthquakes raising the town
(``quakes``), the warning state (``warning``) and ``next_tick``. The
town's colour is :meth:`models.geo_risk.GeoRiskTable.level` of

- the highest exceedance ratio among its gauges (each the higher of the
  cumulative and the intensity-duration ratio),
- the worst alarm level among its sensors,
- whether an earthquake raises it now (:func:`models.quake.quake_risk`),

where evidence older than ``stale_after_h`` is left out (a gauge that stops
reporting does not hold a warning for ever). The lifecycle of
:mod:`models.lifecycle` then issues, upgrades, downgrades, extends or
cancels, with the timing of ``data/rules/geo_risk.toml``.

An earthquake record raises the towns within reach at its origin time, and
every earthquake record of the feed also serves as a clock for the towns an
earlier one raised: a town whose ``next_tick`` (the end of a raise, the
time to extend, the end of a hold) has come is decided again at the new
record's origin time, so a raise ends, and a warning of a town with no gauge
or sensor of its own is extended and cancelled, as the feed goes on.

Warnings are hazard ``landslide``, the name the CAP vocabulary
(``schemas/cap_mapping.toml``) gives geological hazards, one per town.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models import lifecycle
from models.geo_risk import GeoRiskTable
from models.landslide import Thresholds
from models.quake import QuakeEvent, quake_risk
from pipeline.agents.scoring import log_decision, parse_time, warning_event
from pipeline.hazards.geo_evidence import RainGauges, SlopeSensors
from schemas.errors import ConfigError, SchemaError, UnknownReferenceError

logger = logging.getLogger(__name__)

HAZARD = "landslide"
HOUR_S = 3600.0


@dataclass
class GeoScorer:
    """Town geological-hazard risk from rain, slope sensors and earthquakes.

    Parameters
    ----------
    risk : GeoRiskTable
        The combination table, the earthquake rule and the timing.
    thresholds : Thresholds
        The rainfall thresholds (``data/rules/landslide_thresholds.toml``).
    towns : mapping of str to (float, float)
        Town code to its reference point (lon, lat), degrees.
    names : mapping of str to str
        Town code to name.
    status : str
        CAP status of the warnings.
    cumulative, intensity_duration : str
        Names of the thresholds applied, in ``thresholds``.
    stale_after_h : float
        Gauge and sensor evidence older than this, hours, is left out.
    """

    risk: GeoRiskTable
    thresholds: Thresholds
    towns: Mapping[str, tuple[float, float]]
    names: Mapping[str, str]
    status: str = "Actual"
    # XXX: the Seattle-area thresholds stand in until rules fitted to
    # Guangdong slopes are added to data/rules/landslide_thresholds.toml.
    cumulative: str = "seattle"
    intensity_duration: str = "seattle"
    stale_after_h: float = 6.0
    rain: RainGauges = field(init=False)
    sensors: SlopeSensors = field(init=False, default_factory=SlopeSensors)

    def __post_init__(self) -> None:
        try:
            self.rain = RainGauges(
                self.thresholds.cumulative[self.cumulative],
                self.thresholds.intensity_duration[self.intensity_duration],
            )
        except KeyError as exc:
            raise ConfigError(
                f"landslide threshold {exc} is not in the rule file; it has "
                f"{sorted(self.thresholds.cumulative)} (cumulative) and "
                f"{sorted(self.thresholds.intensity_duration)} (intensity-duration)"
            ) from None

    def score(
        self,
        msg: dict[str, Any],
        sites: MutableMapping[str, Any],
        towns: MutableMapping[str, Any],
    ) -> list[dict[str, Any]]:
        """Take one decoded ``obs.geo`` record; update the tables; return events.

        :meth:`site_step` then :meth:`town_step` of each town record, as
        one worker holding every town would; the agent runs the two steps
        on either side of the town-keyed topic ``geo.towns``.
        """
        events: list[dict[str, Any]] = []
        for record in self.site_step(msg, sites):
            events += self.town_step(record, towns)
        return events

    def site_step(
        self, msg: dict[str, Any], sites: MutableMapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Take one ``obs.geo`` record; update its site; return town records.

        The records (``geo_town/1``) carry the new evidence to each town the
        gauge or sensor stands for, or an earthquake's raise of the towns in
        its reach; a record not newer than its site's last gives none.

        Raises
        ------
        UnknownReferenceError
            A gauge or site that stands for a town the region does not have.
        InputError
            Any bad value the evidence steps refuse (see
            :mod:`pipeline.hazards.geo_evidence`).
        """
        kind = msg["schema"]
        if kind == "quake_event/1":
            return [self._raise(msg)]
        if kind == "geo_rain/1":
            place, key, what = msg["gauge"], f"rain:{msg['gauge']['id']}", "rain"
            step: Callable[..., Any] = self.rain.step
            name = msg["gauge"]["id"]
        elif kind == "slope_sensor/1":
            place, key, what = msg["site"], f"sensor:{msg['sensor']['id']}", "sensors"
            step = self.sensors.step
            name = msg["sensor"]["id"]
        else:
            raise SchemaError(f"obs.geo record of schema {kind!r} has no scoring")
        codes = list(place["area_codes"])
        self._known(codes, f"{kind} {place['id']}")

        result = step(msg, sites.get(key))  # the steps never change an entry
        if result is None:
            logger.debug("%s %s at %s: not newer; skipped", kind, name, msg["time"])
            return []
        entry, evidence = result
        sites[key] = entry
        return [
            {
                "schema": "geo_town/1",
                "kind": "evidence",
                "time": msg["time"],
                "town": code,
                "what": what,
                "name": name,
                "evidence": evidence,
            }
            for code in codes
        ]

    def town_step(
        self,
        record: dict[str, Any],
        towns: MutableMapping[str, Any],
        mine: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Take one ``geo_town/1`` record; update the towns; return events.

        An earthquake record decides the towns it raises and, as a clock,
        every town whose ``next_tick`` has come; ``mine`` keeps that to the
        towns of the record's partition (all towns without it).
        """
        now = parse_time(record["time"])
        if record["kind"] == "evidence":
            what, name, evidence = record["what"], record["name"], record["evidence"]

            def put(town: dict[str, Any]) -> None:
                town.setdefault(what, {})[name] = evidence

            event = self._decide(record["town"], now, towns, put)
            return [] if event is None else [event]
        raised = record["raised"]
        due = {
            code
            for code, entry in towns.items()
            if entry
            and (mine is None or mine(code))
            and entry.get("next_tick") is not None
            and entry["next_tick"] <= now.timestamp()
        }

        def put_for(code: str) -> Callable[[dict[str, Any]], None]:
            def put(town: dict[str, Any]) -> None:
                r = raised.get(code)
                if r is not None:
                    town.setdefault("quakes", {})[r["event_id"]] = {
                        k: r[k] for k in ("time", "until", "magnitude", "distance_km")
                    }

            return put

        events = [
            self._decide(code, now, towns, put_for(code))
            for code in sorted(set(raised) | due)
        ]
        return [ev for ev in events if ev is not None]

    def _known(self, codes: list[str], what: str) -> None:
        unknown = [c for c in codes if c not in self.towns]
        if unknown:
            raise UnknownReferenceError(
                f"{what} stands for towns {unknown} the region does not have"
            )

    def _raise(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The ``geo_town/1`` record of an earthquake: the towns it raises."""
        event = QuakeEvent(
            event_id=msg["event_id"],
            time=parse_time(msg["time"]),
            lon=float(msg["lon"]),
            lat=float(msg["lat"]),
            depth_km=msg["depth_km"],
            magnitude=msg["magnitude"],
            magnitude_type=msg["magnitude_type"],
            place=msg["place"],
            event_type=msg["event_type"],
            status=msg["status"],
            updated=parse_time(msg["updated"]),
        )
        raised = {
            r.town: {
                "event_id": r.event_id,
                "time": r.raised_from.timestamp(),
                "until": r.raised_until.timestamp(),
                "magnitude": r.magnitude,
                "distance_km": r.distance_km,
            }
            for r in quake_risk(
                event,
                self.towns,
                self.risk.max_distance_km,
                self.risk.min_magnitude,
                self.risk.duration_h,
            )
        }
        return {
            "schema": "geo_town/1",
            "kind": "quake",
            "time": msg["time"],
            "event_id": msg["event_id"],
            "raised": raised,
        }

    def _decide(
        self,
        code: str,
        now: datetime,
        towns: MutableMapping[str, Any],
        put: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any] | None:
        """Update a town's evidence with ``put`` and take its lifecycle step."""
        town = copy.deepcopy(towns.get(code)) or {}
        put(town)
        ts = now.timestamp()
        oldest = ts - self.stale_after_h * HOUR_S
        rain = {g: e for g, e in town.get("rain", {}).items() if e["time"] >= oldest}
        sensors = {
            s: e for s, e in town.get("sensors", {}).items() if e["time"] >= oldest
        }
        quakes = {
            q: e
            for q, e in town.get("quakes", {}).items()
            if e["time"] <= ts < e["until"]
        }
        gauge = max(rain, key=lambda g: rain[g]["ratio"], default=None)
        sensor = max(sensors, key=lambda s: sensors[s]["level"], default=None)
        quake = max(
            quakes,
            key=lambda q: (quakes[q]["magnitude"], -quakes[q]["distance_km"]),
            default=None,
        )
        due = self.risk.level(
            None if gauge is None else rain[gauge]["ratio"],
            0 if sensor is None else int(sensors[sensor]["level"]),
            quake is not None,
        )

        prior = lifecycle.WarningState.from_dict(town.get("warning"))
        state, decision = lifecycle.step(
            prior, due, now, hazard=HAZARD, area=code, timing=self.risk.timing
        )
        town["warning"] = state.to_dict()
        if state.level is None:
            town["quakes"] = {
                q: e for q, e in town.get("quakes", {}).items() if e["until"] > ts
            }
        town["next_tick"] = self._next_tick(town, state, prior, ts)
        towns[code] = town
        if decision is None:
            return None

        log_decision(decision, HAZARD, code)
        trigger = self._trigger(
            rain.get(gauge) if gauge else None,
            gauge,
            sensors.get(sensor) if sensor else None,
            sensor,
            quakes.get(quake) if quake else None,
            quake,
        )
        return warning_event(
            decision,
            hazard=HAZARD,
            ruleset=self.risk.name,
            codes=[code],
            names=[self.names.get(code, code)],
            status=self.status,
            trigger=trigger,
        )

    def _next_tick(
        self,
        town: dict[str, Any],
        state: lifecycle.WarningState,
        prior: lifecycle.WarningState,
        ts: float,
    ) -> float | None:
        """When an earthquake record should next decide this town, POSIX s."""
        if not town.get("quakes"):
            return None
        timing = self.risk.timing
        times = [e["until"] for e in town["quakes"].values()]
        if state.valid_to is not None:
            times.append(state.valid_to - timing.extend_before_min * 60.0)
        if state.changed_at is not None:
            times.append(state.changed_at + timing.hold_min * 60.0)
        if prior.last_obs is not None and ts <= prior.last_obs:
            times.append(prior.last_obs + 1.0)  # a late record: decide soon
        later = [t for t in times if t > ts]
        return min(later) if later else ts

    def _trigger(
        self,
        rain: dict[str, Any] | None,
        gauge: str | None,
        sensor: dict[str, Any] | None,
        sensor_id: str | None,
        quake: dict[str, Any] | None,
        quake_id: str | None,
    ) -> dict[str, Any]:
        """The evidence behind a decision, for the warning and its CAP text."""
        trigger: dict[str, Any] = {}
        if rain is not None:
            trigger |= {
                "gauge": gauge,
                "rain_ratio": round(rain["ratio"], 3),
                "rain_band": self.risk.rain_band(rain["ratio"]),
                "cumulative_ratio": round(rain["cumulative_ratio"], 3),
                "recent_mm": round(rain["recent_mm"], 2),
                "antecedent_mm": round(rain["antecedent_mm"], 2),
                "required_mm": round(rain["required_mm"], 2),
                "recent_h": self.rain.cumulative.recent_h,
                "antecedent_h": self.rain.cumulative.antecedent_h,
            }
            if rain["id_ratio"] is not None:
                trigger["id_ratio"] = round(rain["id_ratio"], 3)
        if sensor is not None:
            trigger |= {
                "sensor": sensor_id,
                "sensor_level": sensor["level"],
                "sensor_by": sensor["by"] or "none",
            }
        if quake is not None:
            trigger |= {
                "quake": quake_id,
                "quake_magnitude": quake["magnitude"],
                "quake_distance_km": round(quake["distance_km"], 1),
                "quake_until": datetime.fromtimestamp(quake["until"], UTC).isoformat(),
            }
        trigger["branch"] = "observed"
        return trigger
