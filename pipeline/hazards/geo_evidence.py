"""What one gauge or one slope sensor says, record by record.

The geological agent keeps, per rain gauge and per slope sensor, just
enough of the recent past to evaluate its rule at each new record, in
table entries that survive a JSON round trip unchanged:

rain gauge (``rain:<gauge id>``)
    ``start`` (POSIX s, start of the first hour kept), ``rain_mm`` (one
    value per hour from there, ``None`` for an hour the feed lacks) and
    ``last_end`` (end of the newest hour). It keeps the hours the
    cumulative threshold looks back over (recent plus antecedent hours).
slope sensor (``sensor:<sensor id>``)
    ``times`` and ``values`` of the readings of the rate window (and at
    least the readings a level must be confirmed by), ``last``.

:class:`RainGauges` evaluates both rainfall thresholds of
:mod:`models.landslide` on that window exactly as over the whole series:
the cumulative one over the kept hours, the intensity-duration one from
the last run of ``dry_gap_h`` dry hours, where every rain event starts
afresh. :class:`SlopeSensors` applies :func:`models.slope_sensors.assess`.
Each returns the evidence the town decision uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from models.landslide import (
    CumulativeThreshold,
    HourlyGrid,
    IntensityDurationThreshold,
    evaluate_cumulative,
    evaluate_intensity_duration,
)
from models.quality import check_rain_mm
from models.slope_sensors import KIND_UNITS, assess, parse_sensor_rule
from pipeline.agents.scoring import parse_time
from schemas.errors import ConfigError, PhysicalError, SchemaError

HOUR_S = 3600.0
# The reading field of each sensor kind (slope_sensor/1).
READING_FIELDS = {kind: f"{kind}_{unit}" for kind, unit in KIND_UNITS.items()}


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _event_tail(rain_mm: np.ndarray, dry_gap_h: int) -> int:
    """Index from which the current rain event can be evaluated afresh.

    The last run of ``dry_gap_h`` hours without rain (a missing hour counts
    as dry) ends every event before it; evaluating from its first hour gives
    the same result at the last hour as evaluating the whole series.
    """
    run = 0
    for i in range(len(rain_mm) - 1, -1, -1):
        if rain_mm[i] > 0.0:
            run = 0
            continue
        run += 1
        if run == dry_gap_h:
            return i
    return 0


@dataclass(frozen=True)
class RainGauges:
    """The two rainfall thresholds, evaluated gauge by gauge, hour by hour."""

    cumulative: CumulativeThreshold
    intensity_duration: IntensityDurationThreshold

    @property
    def keep_h(self) -> int:
        """Hours of rain a gauge entry keeps."""
        return self.cumulative.recent_h + self.cumulative.antecedent_h

    def step(
        self, msg: dict[str, Any], entry: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Add one ``geo_rain/1`` hour; return (entry, evidence).

        None when the hour is not after the gauge's newest one (a re-read
        or late record).

        Raises
        ------
        PhysicalError
            More rain than an hour can hold, or an hour that does not fall
            on the gauge's whole hours.
        """
        gauge = msg["gauge"]["id"]
        where = f"gauge {gauge} at {msg['time']}"
        end = parse_time(msg["time"]).timestamp()
        entry = entry or {}
        if entry.get("last_end") is not None and end <= entry["last_end"]:
            return None
        rain_mm = check_rain_mm(float(msg["rain_mm"]), HOUR_S, where=where)

        hour = end - HOUR_S
        start = entry.get("start", hour)
        values = list(entry.get("rain_mm") or [])
        offset = (hour - start) / HOUR_S
        if abs(offset - round(offset)) > 1e-6:
            raise PhysicalError(
                f"{where}: the hour does not end on the gauge's whole hours "
                f"(hours so far end at minute {datetime.fromtimestamp(start, UTC):%M})"
            )
        gap = round(offset) - len(values)
        if gap >= self.keep_h:
            start, values = hour, []
        else:
            values.extend([None] * gap)
        values.append(rain_mm)
        if len(values) > self.keep_h:
            drop = len(values) - self.keep_h
            values, start = values[drop:], start + drop * HOUR_S

        new = {"start": start, "rain_mm": values, "last_end": end}
        return new, self._evidence(start, values, end)

    def _evidence(
        self, start: float, values: list[float | None], end: float
    ) -> dict[str, Any]:
        rain = np.array([np.nan if v is None else v for v in values], dtype=float)
        grid = HourlyGrid(datetime.fromtimestamp(start, UTC), rain)
        cumulative = evaluate_cumulative(grid, self.cumulative)
        reached = bool(cumulative.reached[-1])
        c_ratio = float(cumulative.ratio[-1])
        if reached:  # reached within the gauge's resolution counts as 1
            c_ratio = max(c_ratio, 1.0)

        rule = self.intensity_duration
        # XXX: a rain event that runs without a dry gap for longer than the
        # hours kept (432 h with the Seattle rule) starts at the oldest one.
        tail = _event_tail(rain, rule.dry_gap_h)
        storm = evaluate_intensity_duration(
            HourlyGrid(datetime.fromtimestamp(start + tail * HOUR_S, UTC), rain[tail:]),
            rule,
        )
        id_ratio = _finite_or_none(storm.ratio[-1])
        return {
            "time": end,
            "ratio": max(c_ratio, id_ratio or 0.0),
            "cumulative_ratio": c_ratio,
            "cumulative_reached": reached,
            "recent_mm": float(cumulative.recent_mm[-1]),
            "antecedent_mm": float(cumulative.antecedent_mm[-1]),
            "required_mm": float(cumulative.required_mm[-1]),
            "missing_h": int(cumulative.missing_h[-1]),
            "id_ratio": id_ratio,
            "duration_h": _finite_or_none(storm.duration_h[-1]),
            "intensity_mm_per_h": _finite_or_none(storm.intensity_mm_per_h[-1]),
        }


class SlopeSensors:
    """Sensor alarms on level and rate, reading by reading."""

    def step(
        self, msg: dict[str, Any], entry: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Add one ``slope_sensor/1`` reading; return (entry, evidence).

        None when the reading is not after the sensor's newest one.

        Raises
        ------
        SchemaError
            The record carries a reading of another kind, or an unusable rule.
        UnitError
            A rule threshold in another unit than the sensor kind's.
        PhysicalError
            A reading that cannot be real.
        """
        sensor = msg["sensor"]
        kind = sensor["kind"]
        where = f"sensor {sensor['id']} at {msg['time']}"
        given = sorted(f for f in READING_FIELDS.values() if f in msg)
        if given != [READING_FIELDS[kind]]:
            raise SchemaError(
                f"{where}: a {kind} sensor reads {READING_FIELDS[kind]} only; "
                f"the record carries {given}"
            )
        try:
            rule = parse_sensor_rule(dict(sensor["rule"], kind=kind), where)
        except ConfigError as exc:
            raise SchemaError(f"{where}: unusable alarm rule: {exc}") from None

        t = parse_time(msg["time"]).timestamp()
        entry = entry or {}
        if entry.get("last") is not None and t <= entry["last"]:
            return None
        times = [*entry.get("times", []), t]
        values = [*entry.get("values", []), float(msg[READING_FIELDS[kind]])]
        since = t - rule.rate_window_h * HOUR_S
        first = next(i for i, s in enumerate(times) if s >= since)
        first = min(first, max(0, len(times) - rule.confirm_readings))
        times, values = times[first:], values[first:]

        result = assess(rule, [datetime.fromtimestamp(s, UTC) for s in times], values)
        evidence = {
            "time": t,
            "kind": kind,
            "level": result.level,
            "by": result.by,
            "value": result.value,
            "rate_per_h": result.rate_per_h,
        }
        return {"times": times, "values": values, "last": t}, evidence
