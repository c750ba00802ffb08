"""USGS THRESH hourly rain files and landslide date lists.

The USGS landslide-threshold software (THRESH, Baum, Fischer and Vigil
2018) reads one fixed-width line per gauge hour, 15 characters, no header::

    02 2010 07 24 00 000
    |  |    |  |  |  +-- rain in that hour, hundredths of an inch (3 digits)
    |  |    |  |  +----- hour, 00-23, local standard time
    |  |    |  +-------- day
    |  |    +----------- month
    |  +---------------- year
    +------------------- station number

(written without the spaces: ``022010072400000``). The Mukilteo test files
(``KPAE_t.txt`` for Everett-Paine Field and three other Seattle-area
airports) follow it. A negative amount is THRESH's no-data marker; such hours,
like hours absent from the file, are left out of the series, and the models
count them as missing.

Amounts are converted at the edge: one hundredth of an inch is exactly
0.254 mm, and nothing past this module sees inches. Times get a fixed UTC
offset, -8 h (Pacific Standard Time) by default: the files show no
daylight-saving jumps.

The landslide list of the same package (``dates2011Muk.txt``) has one
``MM/DD/YYYY`` date a line, local dates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from schemas.errors import ConfigError, ParseError

__all__ = [
    "MM_PER_HUNDREDTH_INCH",
    "HourlyRain",
    "read_landslide_dates",
    "read_thresh_hourly",
]

logger = logging.getLogger(__name__)

MM_PER_HUNDREDTH_INCH = 0.254
LINE_LENGTH = 15


@dataclass(frozen=True)
class HourlyRain:
    """An hourly rain series of one gauge.

    Attributes
    ----------
    station : str
        Station number as in the file (``"02"``).
    times : tuple of datetime
        Start of each hour (aware), strictly increasing; gaps are hours
        the file does not give.
    rain_mm : tuple of float
        Rain in each hour, mm.
    no_data_h : int
        Hours the file marks as no data (left out of ``times``).
    """

    station: str
    times: tuple[datetime, ...]
    rain_mm: tuple[float, ...]
    no_data_h: int = 0

    @property
    def missing_h(self) -> int:
        """Hours between the first and last record that the series lacks."""
        if not self.times:
            return 0
        span_h = (self.times[-1] - self.times[0]) // timedelta(hours=1) + 1
        return span_h - len(self.times)


def _parse_line(line: str, where: str) -> tuple[str, datetime, int]:
    if len(line) != LINE_LENGTH:
        raise ParseError(
            f"{where}: {len(line)} characters; expected {LINE_LENGTH} "
            "(station 2, year 4, month 2, day 2, hour 2, hundredths of an inch 3)"
        )
    try:
        start = datetime(
            int(line[2:6]), int(line[6:8]), int(line[8:10]), int(line[10:12])
        )
        hundredths = int(line[12:15])
    except ValueError as exc:
        raise ParseError(
            f"{where}: {line!r} does not read as a THRESH line ({exc})"
        ) from None
    return line[0:2], start, hundredths


def read_thresh_hourly(path: str | Path, *, utc_offset_h: float = -8.0) -> HourlyRain:
    """Read a THRESH fixed-width hourly rain file of one station.

    Parameters
    ----------
    path : str or Path
        The file.
    utc_offset_h : float
        Offset of the file's local standard time from UTC, hours.

    Returns
    -------
    HourlyRain
        The series in mm per hour.

    Raises
    ------
    ConfigError
        The file does not exist.
    ParseError
        A line is malformed, names another station, or goes back in time.
    """
    path = Path(path)
    zone = timezone(timedelta(hours=utc_offset_h))
    station: str | None = None
    times: list[datetime] = []
    rain_mm: list[float] = []
    no_data_h = 0
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"THRESH rain file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not an ASCII THRESH file ({exc})") from None

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        code, start, hundredths = _parse_line(line, where)
        start = start.replace(tzinfo=zone)
        if station is None:
            station = code
        elif code != station:
            raise ParseError(
                f"{where}: station {code!r} in a file of station {station!r}"
            )
        if times and start <= times[-1]:
            raise ParseError(
                f"{where}: hour {start:%Y-%m-%d %H} is not after the one before"
            )
        if hundredths < 0:
            no_data_h += 1
            continue
        times.append(start)
        rain_mm.append(hundredths * MM_PER_HUNDREDTH_INCH)

    if station is None:
        raise ParseError(f"{path}: no rain lines")
    series = HourlyRain(station, tuple(times), tuple(rain_mm), no_data_h)
    logger.info(
        "read %s: station %s, %d hours, %d missing, %d no-data",
        path.name,
        station,
        len(times),
        series.missing_h,
        no_data_h,
    )
    return series


def read_landslide_dates(path: str | Path) -> list[date]:
    """Read a THRESH landslide date list (``MM/DD/YYYY`` a line, local dates)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"landslide date list {path} does not exist") from None
    dates = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            dates.append(datetime.strptime(line.strip(), "%m/%d/%Y").date())
        except ValueError:
            raise ParseError(
                f"{path.name} line {number}: {line.strip()!r} is not MM/DD/YYYY"
            ) from None
    return dates
