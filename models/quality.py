"""Physical and temporal checks that turn a reading into bad input.

Each check is a pure function: it takes the reading (and, for time checks,
the clock's ``now``) and either returns quietly or raises the
:mod:`schemas.errors` class the dead-letter topic files the record under.
Readers collect the failures as :class:`Rejection` records instead of
dropping them, so every refused value is counted with its reason.

Limits, all configurable:

==========================  ===================================================
check                       default limit
==========================  ===================================================
rain in one step            ``422 mm * (step / 1 h) ** 0.475``, the envelope of
                            the world's greatest observed point rainfalls
                            (Jennings 1950, as drawn in WMO-No. 1045): about
                            180 mm in 10 min, 130 mm in 5 min, 422 mm in 1 h.
                            Rain below 0 mm, NaN or infinite is refused too.
stage change between two    24 m/h (2 m in 5 min), with intervals shorter than
readings of one station     5 min counted as 5 min, and never more than 10 m
                            in one interval, however long. A 20 m jump fails
                            at any interval; a flash flood's 8 m in 45 min
                            passes.
stage unit                  the unit the station declares (``m`` or ``ft``)
time in the future          ``now + 5 min`` (clock skew between a logger and us)
time zone                   every timestamp carries a UTC offset
==========================  ===================================================

A stage change above the limit is taken to be a sensor or transmission fault,
not a flood: the faster real rises (flash floods, dam releases) stay well
inside it.

References
----------
Jennings, A. H. (1950). World's greatest observed point rainfalls. *Monthly
Weather Review*, 78(1), 4-5.

WMO (2009). *Manual on Estimation of Probable Maximum Precipitation (PMP)*,
WMO-No. 1045, chapter 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.errors import (
    FutureTimeError,
    InputError,
    ParseError,
    PhysicalError,
    UnitError,
)

M_PER_FT = 0.3048
STAGE_UNITS = {"m": 1.0, "ft": M_PER_FT}
DEFAULT_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class RainLimit:
    """Largest rain accumulation one step can hold, as a power-law envelope.

    Parameters
    ----------
    coefficient_mm : float
        Limit for a one-hour step, mm.
    exponent : float
        Growth of the limit with the step length (dimensionless).
    """

    coefficient_mm: float = 422.0
    exponent: float = 0.475

    def max_mm(self, step_s: float) -> float:
        """Limit, mm, for an accumulation over ``step_s`` seconds."""
        return self.coefficient_mm * (step_s / 3600.0) ** self.exponent


@dataclass(frozen=True)
class StageLimit:
    """Largest stage change two consecutive readings may show.

    Parameters
    ----------
    rate_m_per_h : float
        Fastest believable rise or fall, m/h.
    min_interval_s : float
        Intervals shorter than this, s, are counted as this long (timestamps
        of loggers jitter; a rate over seconds means nothing).
    max_change_m : float
        Largest change, m, over any interval.
    """

    rate_m_per_h: float = 24.0
    min_interval_s: float = 300.0
    max_change_m: float = 10.0

    def max_m(self, interval_s: float) -> float:
        """Largest change, m, between readings ``interval_s`` seconds apart."""
        counted_s = max(abs(interval_s), self.min_interval_s)
        return min(self.rate_m_per_h * counted_s / 3600.0, self.max_change_m)


DEFAULT_RAIN_LIMIT = RainLimit()
DEFAULT_STAGE_LIMIT = StageLimit()


@dataclass(frozen=True)
class Rejection:
    """A reading a reader refused, where it was and why.

    ``reason_class`` is the ``reason_class`` of the error raised, or
    ``"missing"`` for a no-data marker or a blank cell.
    """

    where: str
    reason_class: str
    reason: str

    @classmethod
    def from_error(cls, where: str, error: InputError) -> Rejection:
        """The rejection of a reading that raised ``error``."""
        return cls(where=where, reason_class=error.reason_class, reason=str(error))


def check_rain_mm(
    rain_mm: float, step_s: float, *, where: str, limit: RainLimit = DEFAULT_RAIN_LIMIT
) -> float:
    """Return ``rain_mm`` if it can be a real accumulation over ``step_s``.

    Parameters
    ----------
    rain_mm : float
        Accumulation over the step, mm.
    step_s : float
        Length of the step, s.
    where : str
        The reading, for the error message.
    limit : RainLimit
        Envelope of the largest possible accumulation.

    Raises
    ------
    PhysicalError
        NaN, infinite, negative, or above ``limit.max_mm(step_s)``; or a step
        that is not positive.
    """
    if not step_s > 0:
        raise PhysicalError(f"{where}: step of {step_s} s, expected a positive step")
    if not math.isfinite(rain_mm):
        raise PhysicalError(f"{where}: rain {rain_mm} mm, expected a finite value")
    if rain_mm < 0:
        raise PhysicalError(f"{where}: rain {rain_mm} mm, expected >= 0 mm")
    most = limit.max_mm(step_s)
    if rain_mm > most:
        raise PhysicalError(
            f"{where}: rain {rain_mm} mm in {step_s / 60:g} min is above the "
            f"{most:.1f} mm that can fall in that time"
        )
    return rain_mm


def check_stage_unit(found: str, declared: str, *, where: str) -> None:
    """Refuse a stage in a unit other than the station's declared one.

    Raises
    ------
    UnitError
        ``found`` is not a stage unit (m, ft) or not ``declared``.
    """
    if found not in STAGE_UNITS:
        raise UnitError(
            f"{where}: stage unit {found!r} is not understood, expected "
            f"{declared!r} as the station declares"
        )
    if found != declared:
        raise UnitError(
            f"{where}: stage in {found!r}, but the station declares {declared!r}"
        )


def check_stage(stage: float, *, where: str) -> float:
    """Return ``stage`` if it is a finite number.

    Raises
    ------
    PhysicalError
        NaN or infinite.
    """
    if not math.isfinite(stage):
        raise PhysicalError(f"{where}: stage {stage}, expected a finite value")
    return stage


def check_stage_jump(
    previous_stage: float,
    previous_time: datetime,
    stage: float,
    time: datetime,
    *,
    unit: str,
    where: str,
    limit: StageLimit = DEFAULT_STAGE_LIMIT,
) -> None:
    """Refuse a stage that moved further since the previous reading than rivers do.

    Parameters
    ----------
    previous_stage, stage : float
        The last accepted reading and this one, in ``unit``.
    previous_time, time : datetime
        When they were read (aware).
    unit : str
        ``"m"`` or ``"ft"``.
    where : str
        The reading, for the error message.
    limit : StageLimit
        The largest believable change.

    Raises
    ------
    PhysicalError
        The change is larger than ``limit.max_m`` of the interval.
    UnitError
        ``unit`` is not m or ft.
    """
    if unit not in STAGE_UNITS:
        raise UnitError(f"{where}: stage unit {unit!r}, expected 'm' or 'ft'")
    interval_s = (time - previous_time).total_seconds()
    change_m = abs(stage - previous_stage) * STAGE_UNITS[unit]
    most_m = limit.max_m(interval_s)
    if change_m > most_m:
        most = f"{most_m:.2f} m"
        if unit != "m":
            most += f" ({most_m / STAGE_UNITS[unit]:.2f} {unit})"
        raise PhysicalError(
            f"{where}: stage moved {stage - previous_stage:+.2f} {unit} in "
            f"{interval_s / 60:g} min (from {previous_stage} at "
            f"{previous_time.isoformat()}); at most {most} is believable"
        )


def require_offset(time: datetime, *, where: str) -> datetime:
    """Return ``time`` if it carries a UTC offset.

    A local time without its offset is ambiguous by hours, so it counts as a
    value without its unit.

    Raises
    ------
    UnitError
        ``time`` is naive.
    """
    if time.tzinfo is None or time.utcoffset() is None:
        raise UnitError(
            f"{where}: time {time.isoformat()} has no UTC offset, expected one "
            "such as +08:00"
        )
    return time


def parse_time(text: str, *, where: str) -> datetime:
    """Read an ISO-8601 timestamp that must carry its UTC offset.

    Raises
    ------
    ParseError
        ``text`` is not ISO-8601, or names an instant outside years 1-9999
        in UTC.
    UnitError
        It has no offset.
    """
    try:
        time = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ParseError(
            f"{where}: time {text!r} is not ISO-8601, expected e.g. "
            "'2023-07-15T10:00:00+09:00'"
        ) from None
    require_offset(time, where=where)
    try:
        time.astimezone(UTC)
    except OverflowError:
        raise ParseError(
            f"{where}: time {text!r} is outside the years 1-9999 in UTC"
        ) from None
    return time


def check_not_future(
    time: datetime,
    now: datetime,
    *,
    where: str,
    allowed_skew: timedelta = DEFAULT_SKEW,
) -> None:
    """Refuse a timestamp later than ``now + allowed_skew``.

    Parameters
    ----------
    time : datetime
        The reading's time (aware).
    now : datetime
        The clock's time (aware), passed in.
    where : str
        The reading, for the error message.
    allowed_skew : timedelta
        How far ahead of ``now`` a logger's clock may run.

    Raises
    ------
    UnitError
        ``time`` has no offset.
    FutureTimeError
        ``time`` is later than ``now + allowed_skew``.
    """
    require_offset(time, where=where)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if time > now + allowed_skew:
        ahead = time - now
        raise FutureTimeError(
            f"{where}: time {time.isoformat()} is {ahead} ahead of the clock "
            f"({now.isoformat()}); at most {allowed_skew} is allowed"
        )
