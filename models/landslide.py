"""Rainfall thresholds for landslides: cumulative and intensity-duration.

The thresholds are data (``data/rules/landslide_thresholds.toml``); every
amount is in mm and every duration in hours once loaded.

**Cumulative recent-antecedent threshold.** With ``P_r`` the rain of the
last ``recent_h`` hours and ``P_a`` the rain of the ``antecedent_h`` hours
before those, the threshold is reached when

    P_r >= max(c + s * P_a, P_min)

with intercept ``c`` (mm), slope ``s`` (<= 0) and a least recent rain
``P_min`` (mm). The USGS Seattle-area rule (Chleborad, Baum and Godt 2006)
is ``P3 = 3.5 - 0.67 * P15`` in inches, P3 the last 72 h, P15 the 360 h
before: 88.9 mm - 0.67 P15. Past P15 = 5.22 in the line asks for no recent
rain at all; THRESH then counts any recent rain as exceeding, which is what
``P_min`` (one gauge tip, 0.01 in) keeps. The *exceedance ratio* is
``P_r / max(c + s P_a, P_min)``: 1 at the threshold, 2 when twice the
needed recent rain has fallen.

**Intensity-duration threshold.** A rain event starts with the first wet
hour after at least ``dry_gap_h`` dry hours. At each hour, ``D`` is the
event's duration so far (first wet hour to the end of the last wet hour)
and ``I`` its mean intensity up to the current hour; the ratio is
``I / (a D^b)``, defined for ``min_duration_h <= D <= max_duration_h``.
After the rain stops ``D`` stays and ``I`` falls, so the ratio decays, as
in THRESH.

**Hourly series.** Series are hourly; a record stamped ``t`` holds the rain
of the hour starting at ``t`` and the windows at ``t`` end with it. Hours
the series lacks (and hours before its start) count as no rain and are
reported as ``missing_h``: a threshold reached with missing hours is
certainly reached, one not reached may not be. A landslide date is flagged
when the threshold is reached at any hour stamped on that local date, the
way THRESH's ROC scripts match landslide dates to its hourly output.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from schemas.errors import ConfigError, PhysicalError

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
HOUR = timedelta(hours=1)
DEFAULT_RULES = (
    Path(__file__).resolve().parents[1] / "data/rules/landslide_thresholds.toml"
)
# Amounts equal to the threshold at the gauge's resolution count as reaching
# it; this absorbs the rounding of mm converted from hundredths of an inch.
_EPS_MM = 1e-9


@dataclass(frozen=True)
class CumulativeThreshold:
    """``P_recent >= max(intercept_mm + slope * P_antecedent, min_recent_mm)``."""

    name: str
    intercept_mm: float
    slope: float
    recent_h: int
    antecedent_h: int
    min_recent_mm: float
    title: str = ""

    def required_mm(self, antecedent_mm: float) -> float:
        """Recent rain (mm) that reaches the threshold after ``antecedent_mm``."""
        return max(self.intercept_mm + self.slope * antecedent_mm, self.min_recent_mm)

    def ratio(self, recent_mm: float, antecedent_mm: float) -> float:
        """Exceedance ratio: recent rain over the recent rain required."""
        if recent_mm < 0.0 or antecedent_mm < 0.0:
            raise PhysicalError(
                f"{self.name}: rain {recent_mm} / {antecedent_mm} mm; expected >= 0"
            )
        return recent_mm / self.required_mm(antecedent_mm)

    def reached(self, recent_mm: float, antecedent_mm: float) -> bool:
        """Whether the recent rain reaches the threshold."""
        return recent_mm >= self.required_mm(antecedent_mm) - _EPS_MM


@dataclass(frozen=True)
class IntensityDurationThreshold:
    """``I = a_mm_per_h * D ** b`` for ``min_duration_h <= D <= max_duration_h``."""

    name: str
    a_mm_per_h: float
    b: float
    min_duration_h: float
    max_duration_h: float
    dry_gap_h: int
    title: str = ""

    def threshold_mm_per_h(self, duration_h: float) -> float:
        """Mean intensity (mm/h) that reaches the threshold over ``duration_h``."""
        return self.a_mm_per_h * math.pow(duration_h, self.b)

    def ratio(self, intensity_mm_per_h: float, duration_h: float) -> float | None:
        """``I / (a D^b)``, or None outside the threshold's duration range."""
        if not self.min_duration_h <= duration_h <= self.max_duration_h:
            return None
        if duration_h <= 0.0:
            return None
        return intensity_mm_per_h / self.threshold_mm_per_h(duration_h)


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of a rule file, by name."""

    cumulative: Mapping[str, CumulativeThreshold] = field(default_factory=dict)
    intensity_duration: Mapping[str, IntensityDurationThreshold] = field(
        default_factory=dict
    )


def _in_mm(raw: Mapping[str, Any], key: str, where: str) -> float:
    """A quantity given as ``key_mm`` or ``key_in``, in mm."""
    if f"{key}_mm" in raw and f"{key}_in" in raw:
        raise ConfigError(f"{where}: give {key}_mm or {key}_in, not both")
    if f"{key}_mm" in raw:
        return float(raw[f"{key}_mm"])
    if f"{key}_in" in raw:
        return float(raw[f"{key}_in"]) * MM_PER_INCH
    raise ConfigError(f"{where}: {key}_mm (or {key}_in) is missing")


def _cumulative(name: str, raw: Mapping[str, Any], where: str) -> CumulativeThreshold:
    rule = CumulativeThreshold(
        name=name,
        intercept_mm=_in_mm(raw, "intercept", where),
        slope=float(raw["slope"]),
        recent_h=int(raw["recent_h"]),
        antecedent_h=int(raw["antecedent_h"]),
        min_recent_mm=_in_mm(raw, "min_recent", where),
        title=str(raw.get("title", name)),
    )
    if rule.intercept_mm <= 0 or rule.slope > 0 or rule.min_recent_mm <= 0:
        raise ConfigError(f"{where}: need intercept > 0, slope <= 0, min_recent > 0")
    if rule.recent_h <= 0 or rule.antecedent_h < 0:
        raise ConfigError(f"{where}: need recent_h > 0 and antecedent_h >= 0")
    return rule


def _intensity_duration(
    name: str, raw: Mapping[str, Any], where: str
) -> IntensityDurationThreshold:
    if "a_mm_per_h" in raw and "a_in_per_h" in raw:
        raise ConfigError(f"{where}: give a_mm_per_h or a_in_per_h, not both")
    if "a_mm_per_h" in raw:
        a_mm_per_h = float(raw["a_mm_per_h"])
    elif "a_in_per_h" in raw:
        a_mm_per_h = float(raw["a_in_per_h"]) * MM_PER_INCH
    else:
        raise ConfigError(f"{where}: a_mm_per_h (or a_in_per_h) is missing")
    rule = IntensityDurationThreshold(
        name=name,
        a_mm_per_h=a_mm_per_h,
        b=float(raw["b"]),
        min_duration_h=float(raw["min_duration_h"]),
        max_duration_h=float(raw["max_duration_h"]),
        dry_gap_h=int(raw.get("dry_gap_h", 3)),
        title=str(raw.get("title", name)),
    )
    if rule.a_mm_per_h <= 0 or not 0 <= rule.min_duration_h < rule.max_duration_h:
        raise ConfigError(f"{where}: need a > 0 and 0 <= min_duration_h < max")
    if rule.dry_gap_h < 1:
        raise ConfigError(f"{where}: dry_gap_h must be at least 1 h")
    return rule


def parse_thresholds(data: Mapping[str, Any], source: str = "<rules>") -> Thresholds:
    """Build :class:`Thresholds` from a decoded TOML table, checking every field."""
    try:
        cumulative = {
            name: _cumulative(name, raw, f"{source} [cumulative.{name}]")
            for name, raw in data.get("cumulative", {}).items()
        }
        intensity = {
            name: _intensity_duration(
                name, raw, f"{source} [intensity_duration.{name}]"
            )
            for name, raw in data.get("intensity_duration", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: bad threshold field: {exc!r}") from exc
    return Thresholds(cumulative, intensity)


def load_thresholds(path: str | Path = DEFAULT_RULES) -> Thresholds:
    """Load a threshold file (default ``data/rules/landslide_thresholds.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"landslide thresholds {path} do not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_thresholds(data, str(path))


@dataclass(frozen=True)
class HourlyGrid:
    """An hourly series on a gap-free grid: NaN where an hour is missing."""

    start: datetime
    rain_mm: np.ndarray

    @property
    def times(self) -> list[datetime]:
        """Start of every hour of the grid."""
        return [self.start + i * HOUR for i in range(len(self.rain_mm))]


def to_grid(times: Sequence[datetime], rain_mm: Sequence[float]) -> HourlyGrid:
    """Put an hourly series with gaps on a gap-free grid (NaN = missing)."""
    if len(times) != len(rain_mm) or not times:
        raise PhysicalError("an hourly series needs as many rain values as times, >= 1")
    offsets = [(t - times[0]) / HOUR for t in times]
    if any(o != int(o) for o in offsets) or any(
        b <= a for a, b in zip(offsets, offsets[1:], strict=False)
    ):
        raise PhysicalError("hourly times must be whole hours apart and increasing")
    values = np.full(int(offsets[-1]) + 1, np.nan)
    values[np.asarray(offsets, dtype=int)] = rain_mm
    if np.nanmin(values) < 0.0:
        raise PhysicalError("hourly rain below 0 mm")
    return HourlyGrid(times[0], values)


def _window_sums(
    grid: HourlyGrid, end_back_h: int, length_h: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rain and missing hours of the length_h hours ending end_back_h before hours."""
    n = len(grid.rain_mm)
    # XXX: a missing hour counts as dry, so a gauge outage during a storm can
    # hide an exceedance; the count of missing hours is returned to show it.
    rain = np.concatenate(([0.0], np.cumsum(np.nan_to_num(grid.rain_mm))))
    gaps = np.concatenate(([0], np.cumsum(np.isnan(grid.rain_mm))))
    hi = np.arange(n) - end_back_h + 1  # exclusive end, in cumsum indices
    lo = hi - length_h
    hi_c, lo_c = np.clip(hi, 0, n), np.clip(lo, 0, n)
    before_start = np.clip(hi, None, 0) - np.clip(lo, None, 0)
    return rain[hi_c] - rain[lo_c], gaps[hi_c] - gaps[lo_c] + before_start


@dataclass(frozen=True)
class CumulativeSeries:
    """A cumulative threshold evaluated at every hour of a grid."""

    grid: HourlyGrid
    recent_mm: np.ndarray
    antecedent_mm: np.ndarray
    required_mm: np.ndarray
    ratio: np.ndarray
    reached: np.ndarray
    missing_h: np.ndarray


def evaluate_cumulative(
    grid: HourlyGrid, rule: CumulativeThreshold
) -> CumulativeSeries:
    """Evaluate a cumulative threshold at every hour of ``grid``."""
    recent, gaps_r = _window_sums(grid, 0, rule.recent_h)
    antecedent, gaps_a = _window_sums(grid, rule.recent_h, rule.antecedent_h)
    required = np.maximum(
        rule.intercept_mm + rule.slope * antecedent, rule.min_recent_mm
    )
    return CumulativeSeries(
        grid=grid,
        recent_mm=recent,
        antecedent_mm=antecedent,
        required_mm=required,
        ratio=recent / required,
        reached=recent >= required - _EPS_MM,
        missing_h=gaps_r + gaps_a,
    )


@dataclass(frozen=True)
class StormSeries:
    """Rain-event duration (h), mean intensity (mm/h) and ID ratio per hour."""

    grid: HourlyGrid
    duration_h: np.ndarray
    intensity_mm_per_h: np.ndarray
    ratio: np.ndarray
    reached: np.ndarray


def evaluate_intensity_duration(
    grid: HourlyGrid, rule: IntensityDurationThreshold
) -> StormSeries:
    """Track rain events through ``grid`` and evaluate an ID threshold hourly."""
    n = len(grid.rain_mm)
    duration = np.full(n, np.nan)
    intensity = np.full(n, np.nan)
    ratio = np.full(n, np.nan)
    start: int | None = None
    last_wet = -(10**9)
    total_mm = 0.0

    for i, value in enumerate(grid.rain_mm):
        if value > 0.0:  # NaN compares False: a missing hour is not wet
            if start is None or i - last_wet > rule.dry_gap_h:
                start, total_mm = i, 0.0
            total_mm += float(value)
            last_wet = i
        if start is None or i - last_wet >= rule.dry_gap_h:
            start = None
            continue
        duration[i] = last_wet - start + 1
        intensity[i] = total_mm / (i - start + 1)
        r = rule.ratio(intensity[i], duration[i])
        if r is not None:
            ratio[i] = r

    return StormSeries(grid, duration, intensity, ratio, ratio >= 1.0)


def flag_dates(
    grid: HourlyGrid, reached: np.ndarray, dates: Iterable[date]
) -> dict[date, bool]:
    """Whether a threshold is reached at any hour stamped on each local date."""
    by_date: dict[date, bool] = {}
    for i, t in enumerate(grid.times):
        if reached[i]:
            by_date[t.date()] = True
    flags = {d: by_date.get(d, False) for d in dates}
    log.debug("dates flagged: %s", sorted(d for d, f in flags.items() if f))
    return flags


def cumulative_now(
    times: Sequence[datetime], rain_mm: Sequence[float], rule: CumulativeThreshold
) -> tuple[datetime, float, bool, int]:
    """Time, ratio, reached and missing hours at the last hour of a series."""
    grid = to_grid(times, rain_mm)
    series = evaluate_cumulative(grid, rule)
    end: datetime = grid.start + (len(grid.rain_mm) - 1) * HOUR
    return (
        end,
        float(series.ratio[-1]),
        bool(series.reached[-1]),
        int(series.missing_h[-1]),
    )
