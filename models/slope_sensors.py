"""Alarms from slope monitoring sensors, on level and on rate.

Four kinds of sensor are known, each with one unit:

=============  =====  ==============================================
kind           unit   quantity
=============  =====  ==============================================
displacement   mm     cumulative displacement towards failure
crack_width    mm     opening of a surface crack
pore_pressure  kPa    pore-water pressure (negative: suction)
water_content  %      volumetric water content of the soil
=============  =====  ==============================================

Values are oriented so that a rise is the dangerous direction. A sensor's
rule gives up to three ascending thresholds on the value (``attention``,
``warning``, ``alarm``; levels 1 to 3) and up to three on the rate of rise,
per hour or per day (converted to per hour). Level 0 is no alarm.

- **On level**: a level is reached when the last ``confirm_readings``
  readings are all at or above its threshold, so a single spike does not
  alarm.
- **On rate**: the rate is the Theil-Sen slope (the median of the slopes
  between every pair of readings) of the readings of the last
  ``rate_window_h`` hours. It is computed only when there are at least
  ``min_readings`` readings spanning at least half the window; one wild
  reading among them moves a median of pairwise slopes very little, where
  it would move a two-point difference or a least-squares slope by its
  whole error.

The sensor's level is the higher of the two. Rule tables carry the unit in
every key (``attention_mm``, ``warning_kpa``, ``alarm_pct``,
``attention_mm_per_day``, ``warning_kpa_per_h`` ...); a key in another unit
than the kind's is refused.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from schemas.errors import ConfigError, PhysicalError, UnitError

log = logging.getLogger(__name__)

KIND_UNITS = {
    "displacement": "mm",
    "crack_width": "mm",
    "pore_pressure": "kpa",
    "water_content": "pct",
}
LEVEL_NAMES = ("none", "attention", "warning", "alarm")
_STEPS = LEVEL_NAMES[1:]
_PER = {"per_h": 1.0, "per_day": 1.0 / 24.0}


@dataclass(frozen=True)
class SensorRule:
    """Alarm thresholds of one sensor.

    Attributes
    ----------
    kind : str
        One of KIND_UNITS.
    levels : tuple of (float or None)
        Value thresholds for attention, warning, alarm, in the kind's unit.
    rates_per_h : tuple of (float or None)
        Rate thresholds for attention, warning, alarm, unit per hour.
    rate_window_h : float
        Window of the rate, hours.
    min_readings : int
        Fewest readings in the window for a rate.
    confirm_readings : int
        Consecutive readings that must reach a value threshold.
    """

    kind: str
    levels: tuple[float | None, float | None, float | None]
    rates_per_h: tuple[float | None, float | None, float | None]
    rate_window_h: float = 6.0
    min_readings: int = 4
    confirm_readings: int = 2

    @property
    def unit(self) -> str:
        """The unit of the sensor's values (``mm``, ``kpa`` or ``pct``)."""
        return KIND_UNITS[self.kind]


@dataclass(frozen=True)
class SensorAssessment:
    """The state of one sensor at its latest reading."""

    level: int
    by: str | None
    value: float
    rate_per_h: float | None
    readings_in_window: int

    @property
    def level_name(self) -> str:
        """``none``, ``attention``, ``warning`` or ``alarm``."""
        return LEVEL_NAMES[self.level]


def _thresholds(
    raw: Mapping[str, Any], unit: str, suffixes: Mapping[str, float], what: str
) -> tuple[float | None, float | None, float | None]:
    found: list[float | None] = []
    for step in _STEPS:
        values = [
            float(raw[f"{step}_{unit}{suffix}"]) * factor
            for suffix, factor in suffixes.items()
            if f"{step}_{unit}{suffix}" in raw
        ]
        if len(values) > 1:
            raise ConfigError(f"{what}: {step} is given in more than one unit")
        found.append(values[0] if values else None)
    given = [v for v in found if v is not None]
    if given != sorted(given) or len(set(given)) != len(given):
        raise ConfigError(f"{what}: thresholds {found} must rise with the level")
    return found[0], found[1], found[2]


def parse_sensor_rule(raw: Mapping[str, Any], source: str = "<sensor>") -> SensorRule:
    """Build a :class:`SensorRule` from a table such as a TOML section.

    The table has ``kind``, an optional ``level`` table (``attention_mm``
    ...), an optional ``rate`` table (``attention_mm_per_h`` or
    ``attention_mm_per_day`` ...), ``rate_window_h``, ``min_readings`` and
    ``confirm_readings``.
    """
    kind = str(raw.get("kind", ""))
    if kind not in KIND_UNITS:
        raise ConfigError(
            f"{source}: kind {kind!r}; expected one of {sorted(KIND_UNITS)}"
        )
    unit = KIND_UNITS[kind]
    level_raw, rate_raw = raw.get("level", {}), raw.get("rate", {})
    known_level = {f"{step}_{unit}" for step in _STEPS}
    known_rate = {f"{step}_{unit}_{per}" for step in _STEPS for per in _PER}
    for key, known in [(k, known_level) for k in level_raw] + [
        (k, known_rate) for k in rate_raw
    ]:
        if key not in known:
            raise UnitError(
                f"{source}: {key!r} is not a threshold in {unit}, the unit of {kind};"
                f" expected one of {sorted(known)}"
            )
    try:
        rule = SensorRule(
            kind=kind,
            levels=_thresholds(level_raw, unit, {"": 1.0}, f"{source} level"),
            rates_per_h=_thresholds(
                rate_raw, unit, {f"_{p}": f for p, f in _PER.items()}, f"{source} rate"
            ),
            rate_window_h=float(raw.get("rate_window_h", 6.0)),
            min_readings=int(raw.get("min_readings", 4)),
            confirm_readings=int(raw.get("confirm_readings", 2)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: bad sensor rule field: {exc}") from exc
    if rule.rate_window_h <= 0 or rule.min_readings < 3 or rule.confirm_readings < 1:
        raise ConfigError(
            f"{source}: need rate_window_h > 0, min_readings >= 3 and"
            " confirm_readings >= 1"
        )
    return rule


def theil_sen_per_h(times: Sequence[datetime], values: Sequence[float]) -> float:
    """Median of the pairwise slopes, value units per hour."""
    t_h = np.array([(t - times[0]).total_seconds() / 3600.0 for t in times])
    v = np.asarray(values, dtype=float)
    i, j = np.triu_indices(len(v), k=1)
    dt = t_h[j] - t_h[i]
    return float(np.median((v[j] - v[i]) / dt))


def _check(
    rule: SensorRule, times: Sequence[datetime], values: Sequence[float]
) -> None:
    if not times or len(times) != len(values):
        raise PhysicalError("a sensor series needs as many values as times, >= 1")
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise PhysicalError("sensor reading times must increase")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise PhysicalError(f"{rule.kind} reading {bad[0]!r} is not a number")
    if rule.kind == "water_content" and not all(0.0 <= v <= 100.0 for v in values):
        raise PhysicalError("volumetric water content outside 0-100 %")
    if rule.kind == "crack_width" and min(values) < 0.0:
        raise PhysicalError(f"crack width {min(values)} mm; expected >= 0")


def _reached(value: float, thresholds: Sequence[float | None]) -> int:
    level = 0
    for k, threshold in enumerate(thresholds, start=1):
        if threshold is not None and value >= threshold:
            level = k
    return level


def assess(
    rule: SensorRule, times: Sequence[datetime], values: Sequence[float]
) -> SensorAssessment:
    """The alarm level of a sensor at its latest reading.

    Parameters
    ----------
    rule : SensorRule
        The sensor's thresholds.
    times : sequence of datetime
        Reading times, increasing (aware).
    values : sequence of float
        Readings in the rule's unit (mm, kPa or %).

    Returns
    -------
    SensorAssessment
        Level 0-3, whether the value or the rate set it, the latest value and
        the rate per hour (None when the window holds too few readings).
    """
    _check(rule, times, values)
    confirm = values[-rule.confirm_readings :]
    by_level = 0
    if len(confirm) == rule.confirm_readings:
        by_level = min(_reached(v, rule.levels) for v in confirm)

    since = times[-1].timestamp() - rule.rate_window_h * 3600.0
    first = next(i for i, t in enumerate(times) if t.timestamp() >= since)
    window_t, window_v = times[first:], values[first:]
    span_h = (window_t[-1] - window_t[0]).total_seconds() / 3600.0
    rate = None
    by_rate = 0
    if len(window_t) >= rule.min_readings and span_h >= 0.5 * rule.rate_window_h:
        rate = theil_sen_per_h(window_t, window_v)
        by_rate = _reached(rate, rule.rates_per_h)

    level = max(by_level, by_rate)
    by = None if level == 0 else ("level" if by_level >= by_rate else "rate")
    if level:
        log.debug(
            "%s sensor %s by %s (rate %s per h)",
            rule.kind,
            LEVEL_NAMES[level],
            by,
            rate,
        )
    return SensorAssessment(level, by, float(values[-1]), rate, len(window_t))
