"""From observations to warning events: the scoring steps of the agents.

The faust agents in :mod:`pipeline.app` keep state in tables and move
records between topics; what they do with one record is here, as plain
objects that take a decoded message and the table entries it touches, and
return the new entries and the messages to publish. That keeps the
decisions testable without a broker, and keeps the agents thin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.accumulation import RainWindow
from models.flood import FloodParams, flood_level, ladder, unit_per_m
from models.lifecycle import Decision, Timing, WarningState, step
from models.quality import check_rain_mm, check_stage_jump
from models.rainstorm import assess
from models.rules import COLOURS, RuleSet
from models.stage_forecast import (
    DEFAULT_CROSSING,
    CrossingParams,
    crossings,
    forecast_colour,
    rate_forecast,
    rate_of_rise,
)
from schemas.errors import ConfigError, SchemaError, UnknownReferenceError

logger = logging.getLogger(__name__)


def iso(t: datetime) -> str:
    """ISO-8601 in UTC with seconds, as every ews message writes times."""
    return t.astimezone(UTC).isoformat(timespec="seconds")


def iso_local(ts: float, like: datetime) -> str:
    """POSIX seconds as ISO-8601 in the offset of ``like``, whole minutes."""
    t = datetime.fromtimestamp(round(ts / 60.0) * 60.0, UTC).astimezone(like.tzinfo)
    return t.isoformat(timespec="minutes")


def parse_time(text: str) -> datetime:
    """Read an ISO-8601 time that carries its offset."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return t


def warning_event(
    d: Decision,
    *,
    hazard: str,
    ruleset: str,
    codes: list[str],
    names: list[str],
    status: str,
    trigger: dict[str, Any],
) -> dict[str, Any]:
    """The ``warning_event/1`` message for a lifecycle decision."""
    return {
        "schema": "warning_event/1",
        "event_id": d.event_id,
        "warning_id": d.warning_id,
        "hazard": hazard,
        "ruleset": ruleset,
        "area": {"codes": codes, "names": names},
        "level": d.level,
        "previous_level": d.previous_level,
        "action": d.action,
        "sequence": d.sequence,
        "observed_at": iso(d.observed_at),
        "valid_from": iso(d.valid_from),
        "valid_to": iso(d.valid_to),
        "status": status,
        "trigger": trigger,
    }


def log_decision(d: Decision, hazard: str, area: str) -> None:
    """The one INFO line an operator sees per decision."""
    logger.info(
        "%s warning %s for %s: %s -> %s at %s (valid to %s)",
        hazard,
        d.action,
        area,
        d.previous_level or "none",
        d.level or "none",
        iso(d.observed_at),
        iso(d.valid_to),
    )


def _check_totals(totals: dict[float, float], where: str) -> None:
    """Refuse window totals (mm, keyed by hours) above the rain envelope."""
    for window_h, total_mm in totals.items():
        check_rain_mm(total_mm, window_h * 3600.0, where=f"{where} {window_h:g} h")


@dataclass
class RainstormScorer:
    """Rolling accumulations and the rainstorm rule, per area.

    Parameters
    ----------
    rules : RuleSet
        The rule set in force.
    names : dict
        Area code to display name.
    status : str
        CAP status of the warnings (Actual, Exercise, Test).
    areas : frozenset of str, optional
        The area codes a warning can be issued for (the region's towns); a
        record for any other is refused. None takes every code.
    """

    rules: RuleSet
    names: dict[str, str]
    status: str = "Actual"
    areas: frozenset[str] | None = None

    @property
    def timing(self) -> Timing:
        r = self.rules
        return Timing(
            valid_h=r.valid_h,
            extend_before_min=r.extend_before_min,
            hold_min=r.hold_min,
            settle_min=r.settle_min,
        )

    def score(
        self,
        msg: dict[str, Any],
        window: dict | None,
        state: dict | None,
    ) -> tuple[dict | None, dict, list[dict[str, Any]]]:
        """Take one ``area_rain/1`` record.

        A radar record brings its window totals; a gauge record brings the
        rain of its step, which is rolled in ``window``.

        Raises
        ------
        UnknownReferenceError
            The record is for an area outside ``areas``.

        Returns
        -------
        (window, state, events)
            New table entries for the area and the warning events to publish.
        """
        code = msg["area_code"]
        if self.areas is not None and code not in self.areas:
            raise UnknownReferenceError(
                f"area_rain/1 record for {code!r} at {msg['time']}: the region has "
                f"no area of that code ({len(self.areas)} areas); no warning could "
                "reach it"
            )
        end = parse_time(msg["time"])
        where = f"area_rain for {code} at {msg['time']}"
        check_rain_mm(float(msg["rain_mm"]), int(msg["step_s"]), where=where)
        given = msg.get("accumulations_mm")
        if given:
            # Radar: the window totals were taken per pixel upstream.
            totals = {float(k): float(v) for k, v in given.items()}
            _check_totals(totals, f"{where}: accumulations_mm")
            missing = [w for w in self.rules.windows_h if w not in totals]
            if missing:
                raise SchemaError(
                    f"area_rain for {code} at {msg['time']} lacks the "
                    f"{missing} h accumulations the rule set {self.rules.name} needs"
                )
            kept = window
        else:
            # A point gauge: roll its step totals here.
            rain = RainWindow.from_dict(window, keep_h=max(self.rules.windows_h))
            rain.add(end, float(msg["rain_mm"]))
            totals = rain.totals_mm(end, self.rules.windows_h)
            kept = rain.to_dict()

        current = WarningState.from_dict(state)
        forecast = msg.get("forecast_mm")
        forecast_mm = (
            {float(k): float(v) for k, v in forecast.items()} if forecast else None
        )
        if forecast_mm:
            _check_totals(forecast_mm, f"{where}: forecast_mm")
        result = assess(self.rules, totals, current.level, forecast_mm)
        new_state, decision = step(
            current,
            result.level,
            end,
            hazard="rainstorm",
            area=code,
            timing=self.timing,
        )
        events = []
        if decision is not None:
            trigger = {
                f"accumulation_{w:g}h_mm": round(v, 2) for w, v in totals.items()
            }
            trigger["statistic"] = msg.get("statistic", "")
            trigger["branch"] = result.branch
            if result.branch == "forecast" and forecast_mm and result.deciding:
                w = result.deciding.window_h
                trigger[f"forecast_{w:g}h_mm"] = round(forecast_mm[w], 2)
            if result.deciding is not None:
                trigger["criterion"] = (
                    f">= {result.deciding.threshold_mm:g} mm in "
                    f"{result.deciding.window_h:g} h"
                )
                trigger["signal"] = self.rules.signal(result.deciding.level)
            log_decision(decision, "rainstorm", code)
            events.append(
                warning_event(
                    decision,
                    hazard="rainstorm",
                    ruleset=self.rules.name,
                    codes=[code],
                    names=[self.names.get(code, code)],
                    status=self.status,
                    trigger=trigger,
                )
            )
        return kept, new_state.to_dict(), events


@dataclass
class FloodScorer:
    """The flood rule per control section.

    Parameters
    ----------
    params : FloodParams
        Hysteresis and approach parameters.
    timing : Timing
        Validity, extension and hold of flood warnings.
    names : dict
        Town code to name, for the warned area.
    status : str
        CAP status of the warnings.
    crossing : CrossingParams or None
        Crossing forecast from the rate of rise (None: observed levels only).
    """

    params: FloodParams
    timing: Timing
    names: dict[str, str]
    status: str = "Actual"
    crossing: CrossingParams | None = DEFAULT_CROSSING

    def predicted(
        self, entry: dict, t: datetime, stage: float, levels: dict, scheme: str
    ) -> tuple[str | None, float | None]:
        """Colour whose level the rate of rise reaches within the horizon, and when."""
        if self.crossing is None:
            return None, None
        keep_s = (self.crossing.rate_window_h + 1.0) * 3600.0
        history = [
            h for h in entry.get("history", []) if h[0] >= t.timestamp() - keep_s
        ]
        if not history or t.timestamp() > history[-1][0]:
            history.append([t.timestamp(), stage])
        entry["history"] = history
        rise = rate_of_rise([tuple(h) for h in history], self.crossing.rate_window_h)
        if rise is None or rise <= 0:
            return None, None
        leads = self.crossing.leads_h()
        steps = ladder(levels, scheme)
        when = crossings(
            t.timestamp(), stage, leads, rate_forecast(stage, rise, leads), steps
        )
        return forecast_colour(t.timestamp(), when, steps, self.crossing.horizon_h)

    def score(
        self, msg: dict[str, Any], state: dict | None
    ) -> tuple[dict, list[dict[str, Any]]]:
        """Take one ``gauge_obs/1`` record.

        Raises
        ------
        InputError
            A stage that jumps further than a river can, or a unit that is
            not the station's.

        Returns
        -------
        (state, events)
        """
        station = msg["station"]
        sid = station["id"]
        t = parse_time(msg["time"])
        stage = float(msg["stage"])
        unit = station["unit"]
        unit_per_m(unit)
        entry = dict(state or {})
        prev_t = entry.get("last_time")
        prev_stage = entry.get("last_stage")
        rise = None
        if prev_t is not None and prev_stage is not None and t.timestamp() > prev_t:
            hours = (t.timestamp() - prev_t) / 3600.0
            check_stage_jump(
                prev_stage,
                datetime.fromtimestamp(prev_t, UTC),
                stage,
                t,
                unit=unit,
                where=f"station {sid} at {iso(t)}",
            )
            rise = (stage - prev_stage) / hours

        current = WarningState.from_dict(entry.get("warning"))
        # gauge_obs/1 carries no scheme: its levels' names tell (as in
        # connectors.station.from_message).
        colour_keys = {"blue", "yellow", "orange", "red"}
        scheme = "colour" if set(station["levels"]) <= colour_keys else "cn_hydro"
        try:
            due = flood_level(
                stage, rise, current.level, station["levels"], scheme, unit, self.params
            )
        except ConfigError as exc:
            raise SchemaError(
                f"station {sid} at {iso(t)}: levels of the record are unusable: {exc}"
            ) from None
        ahead, crossing_s = self.predicted(entry, t, stage, station["levels"], scheme)
        forecast = ahead is not None and COLOURS.index(ahead) > (
            -1 if due is None else COLOURS.index(due)
        )
        if forecast:
            due = ahead
        new_state, decision = step(
            current, due, t, hazard="flood", area=sid, timing=self.timing
        )
        if prev_t is None or t.timestamp() > prev_t:
            entry["last_time"], entry["last_stage"] = t.timestamp(), stage
        entry["warning"] = new_state.to_dict()

        events = []
        if decision is not None:
            codes = list(station.get("area_codes") or [sid])
            trigger = {
                "station": sid,
                "station_name": station.get("name", sid),
                "stage": stage,
                "unit": unit,
                "rise_per_h": None if rise is None else round(rise, 3),
                "levels": station["levels"],
                "level_scheme": scheme,
            }
            if forecast and crossing_s is not None:
                trigger["branch"] = "forecast"
                trigger["expected_crossing"] = iso_local(crossing_s, t)
                trigger["expected_level"] = ahead
            log_decision(decision, "flood", sid)
            events.append(
                warning_event(
                    decision,
                    hazard="flood",
                    ruleset=f"flood-{scheme}",
                    codes=codes,
                    names=[self.names.get(c, c) for c in codes],
                    status=self.status,
                    trigger=trigger,
                )
            )
        return entry, events
