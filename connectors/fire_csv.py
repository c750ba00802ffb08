"""Fire-weather station CSV: one noon observation per station and day.

The file has a header row and these columns, in any order; the unit is part
of each name, so a file in other units is refused at the header rather than
read wrongly:

============  =====================================================
column        content
============  =====================================================
date          local date of the observation, ``YYYY-MM-DD``
station       station id
lon, lat      station position, WGS84 degrees
county        code of the county the station reports for
temp_c        air temperature at noon local standard time, deg C
rh_pct        relative humidity at noon, %
wind_kmh      10-m wind speed at noon, km/h
rain_mm       rain in the 24 hours ending at noon, mm
============  =====================================================

A column named for the same quantity in another unit (``temp_f``,
``wind_ms``, ``rain_in`` ...) raises :class:`UnitError`. Values that cannot
be real (humidity outside 0-100 %, negative rain or wind, a temperature
outside -60 to 60 C) are rejections with :class:`PhysicalError`, each with
its line, and the other rows are kept. Observation times are noon local
standard time on the date, at a fixed UTC offset given by the caller
(+8 h, China Standard Time, by default).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from models.quality import Rejection
from schemas.errors import ConfigError, InputError, ParseError, PhysicalError, UnitError

__all__ = ["FireRead", "FireWeatherObs", "read_fire_csv"]

logger = logging.getLogger(__name__)

COLUMNS = ("date", "station", "lon", "lat", "county", "temp_c", "rh_pct", "wind_kmh")
RAIN_COLUMN = "rain_mm"

# Columns that name a quantity in a unit this reader does not take.
WRONG_UNITS = {
    "temp_f": "temp_c",
    "temp_k": "temp_c",
    "rh": "rh_pct",
    "rh_frac": "rh_pct",
    "wind_ms": "wind_kmh",
    "wind_mps": "wind_kmh",
    "wind_kt": "wind_kmh",
    "wind_mph": "wind_kmh",
    "rain_in": "rain_mm",
    "rain_cm": "rain_mm",
}

TEMP_RANGE_C = (-60.0, 60.0)


@dataclass(frozen=True)
class FireWeatherObs:
    """One noon fire-weather observation of one station."""

    station: str
    lon: float
    lat: float
    county: str
    time: datetime
    temp_c: float
    rh_pct: float
    wind_kmh: float
    rain_mm: float

    @property
    def month(self) -> int:
        """Month of the observation (local), 1 to 12."""
        return self.time.month


@dataclass
class FireRead:
    """What a file gave: observations in file order, and the rows refused."""

    observations: list[FireWeatherObs] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _check_header(header: list[str], path: Path) -> None:
    for name in header:
        if name in WRONG_UNITS:
            raise UnitError(
                f"{path}: column {name!r} is in a unit this reader does not take; "
                f"expected {WRONG_UNITS[name]!r}"
            )
    missing = [c for c in (*COLUMNS, RAIN_COLUMN) if c not in header]
    if missing:
        raise ConfigError(
            f"{path}: columns {missing} are missing; the header is {header}, "
            f"expected {[*COLUMNS, RAIN_COLUMN]}"
        )


def _number(row: dict[str, str], name: str, where: str) -> float:
    text = (row.get(name) or "").strip()
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{where}: {name} {text!r} is not a number") from None


def _in_range(value: float, low: float, high: float, what: str, where: str) -> float:
    if not low <= value <= high:
        raise PhysicalError(
            f"{where}: {what} is {value:g}; expected {low:g} to {high:g}"
        )
    return value


def _observation(row: dict[str, str], zone: timezone, where: str) -> FireWeatherObs:
    text = (row.get("date") or "").strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{where}: date {text!r} is not YYYY-MM-DD") from None
    station = (row.get("station") or "").strip()
    county = (row.get("county") or "").strip()
    if not station or not county:
        raise ParseError(f"{where}: station and county must not be blank")

    temp_c = _in_range(
        _number(row, "temp_c", where), *TEMP_RANGE_C, "temp_c (C)", where
    )
    rh_pct = _in_range(_number(row, "rh_pct", where), 0.0, 100.0, "rh_pct (%)", where)
    wind_kmh = _number(row, "wind_kmh", where)
    rain_mm = _number(row, RAIN_COLUMN, where)
    for value, what in ((wind_kmh, "wind_kmh (km/h)"), (rain_mm, "rain_mm (mm)")):
        if not value >= 0.0:
            raise PhysicalError(f"{where}: {what} is {value:g}; expected >= 0")

    return FireWeatherObs(
        station=station,
        lon=_in_range(_number(row, "lon", where), -180.0, 180.0, "lon (deg)", where),
        lat=_in_range(_number(row, "lat", where), -90.0, 90.0, "lat (deg)", where),
        county=county,
        time=datetime.combine(day, time(12, 0), tzinfo=zone),
        temp_c=temp_c,
        rh_pct=rh_pct,
        wind_kmh=wind_kmh,
        rain_mm=rain_mm,
    )


def read_fire_csv(path: str | Path, *, utc_offset_h: float = 8.0) -> FireRead:
    """Read a fire-weather station CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, a byte-order mark allowed, header row, commas).
    utc_offset_h : float
        Offset of local standard time from UTC, hours (+8 for China).

    Returns
    -------
    FireRead
        Observations in file order and the rejected rows.

    Raises
    ------
    UnitError
        A column is named for a unit this reader does not take.
    ConfigError
        The file does not exist or lacks a column.
    ParseError
        The file is not readable UTF-8 CSV.
    """
    path = Path(path)
    zone = timezone(timedelta(hours=utc_offset_h))
    read = FireRead()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.DictReader(handle)
            _check_header(list(rows.fieldnames or []), path)
            for row in rows:
                where = f"{path.name} line {rows.line_num}"
                try:
                    read.observations.append(_observation(row, zone, where))
                except InputError as exc:
                    read.rejected.append(Rejection.from_error(where, exc))
    except FileNotFoundError:
        raise ConfigError(f"fire-weather CSV {path} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None

    logger.info(
        "read %s: %d observations, %d refused",
        path.name,
        len(read.observations),
        len(read.rejected),
    )
    return read
