"""Hong Kong Observatory hourly station rainfall as point rain records.

The sample (``data/samples/rain/``, source: Hong Kong Observatory) is a wide
CSV: one row per observation time (``obs_time_hkt``, ISO-8601 with
``+08:00``), one column per station code, each value the rain in mm that fell
in the 60 minutes ending at that time. A blank cell is a value HKO marked
missing or did not send; it is counted per station and never filled in.
Station names and positions come from the station table (``file_code``,
``name_en``, ``name_tc``, ``lon``, ``lat``).

Observation times are irregular (mostly hourly, some 15 or 45 min apart, some
hours apart), so consecutive rows may cover overlapping hours: a per-hour
rule can be checked on each row, but summing rows over longer windows counts
some rain twice and misses some.

On the ``rain.area`` topic a station stands for a point area named by its
code: ``area_rain/1`` with ``statistic = "point"``, ``pixels = 1`` and
``step_s = 3600``.
"""

from __future__ import annotations

import csv
import heapq
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.quality import Rejection, check_rain_mm, parse_time
from schemas import registry
from schemas.errors import ConfigError, InputError, ParseError

logger = logging.getLogger(__name__)

SCHEMA = "area_rain/1"
STEP_S = 3600
SOURCE = "hko"
ATTRIBUTION = "Source: Hong Kong Observatory"
TIME_COLUMN = "obs_time_hkt"


@dataclass(frozen=True)
class RainStation:
    """An HKO automatic weather station with a rain gauge."""

    code: str
    name_en: str
    name_tc: str
    lon: float
    lat: float


@dataclass(frozen=True)
class RainPoint:
    """Rain at one station in the hour ending at ``time``.

    Parameters
    ----------
    station : str
        Station code (the CSV column, ``RF004``).
    name : str
        English station name.
    lon, lat : float
        Position, degrees east and north.
    time : datetime
        End of the hour, aware (+08:00 as HKO gives it).
    rain_mm : float
        Rain in the past hour, mm.
    """

    station: str
    name: str
    lon: float
    lat: float
    time: datetime
    rain_mm: float


@dataclass
class RainTally:
    """Counts kept while reading: values read, blanks per station, refusals."""

    points: int = 0
    missing: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)


def load_hko_stations(path: str | Path) -> dict[str, RainStation]:
    """Read the station table, keyed by ``file_code``.

    Raises
    ------
    ConfigError
        The file is missing or a row lacks a field or a number.
    """
    path = Path(path)
    stations: dict[str, RainStation] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    station = RainStation(
                        code=row["file_code"],
                        name_en=row["name_en"],
                        name_tc=row["name_tc"],
                        lon=float(row["lon"]),
                        lat=float(row["lat"]),
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise ConfigError(
                        f"{path} row {row}: expected file_code, name_en, name_tc "
                        f"and numeric lon, lat ({exc})"
                    ) from None
                stations[station.code] = station
    except FileNotFoundError:
        raise ConfigError(f"HKO station table {path} does not exist") from None
    return stations


def iter_hko_rainfall(
    path: str | Path,
    stations: Mapping[str, RainStation],
    *,
    station_codes: Iterable[str] | None = None,
    tally: RainTally | None = None,
) -> Iterator[RainPoint]:
    """Yield the rain points of the wide CSV row by row, in file order.

    Parameters
    ----------
    path : str or Path
        The wide CSV.
    stations : mapping of str to RainStation
        The station table.
    station_codes : iterable of str, optional
        Read only these columns; default every column.
    tally : RainTally, optional
        Filled with the counts of points, blanks and refusals as rows go by.

    Raises
    ------
    ConfigError
        The file is missing or has no ``obs_time_hkt`` column, or
        ``station_codes`` names a column it does not have.
    ParseError
        The file is not UTF-8 CSV.
    """
    path = Path(path)
    tally = tally if tally is not None else RainTally()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            columns = _columns(header, stations, station_codes, path, tally)
            for row in reader:
                yield from _row_points(row, columns, stations, path, reader, tally)
    except FileNotFoundError:
        raise ConfigError(f"HKO rainfall file {path} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None


def _columns(
    header: list[str],
    stations: Mapping[str, RainStation],
    station_codes: Iterable[str] | None,
    path: Path,
    tally: RainTally,
) -> list[tuple[int, str]]:
    if not header or header[0] != TIME_COLUMN:
        raise ConfigError(f"{path}: first column is not {TIME_COLUMN!r}")
    wanted = set(station_codes) if station_codes is not None else set(header[1:])
    absent = wanted - set(header[1:])
    if absent:
        raise ConfigError(f"{path}: no column for stations {sorted(absent)}")
    columns = []
    for index, code in enumerate(header):
        if index == 0 or code not in wanted:
            continue
        if code not in stations:
            tally.rejected.append(
                Rejection(
                    f"{path.name} column {code}",
                    "unknown",
                    f"{path.name}: station {code} is not in the station table; "
                    "its column is not used",
                )
            )
            continue
        columns.append((index, code))
    return columns


def _row_points(
    row: list[str],
    columns: list[tuple[int, str]],
    stations: Mapping[str, RainStation],
    path: Path,
    reader: Any,
    tally: RainTally,
) -> Iterator[RainPoint]:
    where = f"{path.name} line {reader.line_num}"
    try:
        time = parse_time(row[0] if row else "", where=where)
    except InputError as exc:
        tally.rejected.append(Rejection.from_error(where, exc))
        return
    for index, code in columns:
        text = row[index].strip() if index < len(row) else ""
        here = f"{where} {code}"
        if not text:
            tally.missing[code] += 1
            continue
        try:
            rain_mm = check_rain_mm(_number(text, here), STEP_S, where=here)
        except InputError as exc:
            tally.rejected.append(Rejection.from_error(here, exc))
            continue
        station = stations[code]
        tally.points += 1
        yield RainPoint(code, station.name_en, station.lon, station.lat, time, rain_mm)


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{where}: rain {text!r} is not a number") from None


@dataclass
class RainRead:
    """Every point of a file with the tally of what was not used."""

    points: list[RainPoint]
    tally: RainTally


def read_hko_rainfall(
    path: str | Path, stations: Mapping[str, RainStation]
) -> RainRead:
    """Read the whole wide CSV into memory (171,720 cells for the sample)."""
    tally = RainTally()
    points = list(iter_hko_rainfall(path, stations, tally=tally))
    logger.info(
        "read %s: %d rain values, %d blank, %d refused",
        Path(path).name,
        tally.points,
        sum(tally.missing.values()),
        len(tally.rejected),
    )
    return RainRead(points=points, tally=tally)


def largest(points: Iterable[RainPoint], n: int = 3) -> list[RainPoint]:
    """The ``n`` largest hourly values, largest first (ties: earlier, code)."""
    return heapq.nsmallest(
        n, points, key=lambda p: (-p.rain_mm, p.time.astimezone(UTC), p.station)
    )


def to_message(point: RainPoint, *, source: str = SOURCE) -> dict[str, Any]:
    """The ``area_rain/1`` message of one station hour (validated)."""
    msg = {
        "schema": SCHEMA,
        "area_code": point.station,
        # isoformat, not strftime: %Y leaves years before 1000 unpadded
        "time": point.time.astimezone(UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "step_s": STEP_S,
        "rain_mm": point.rain_mm,
        "statistic": "point",
        "pixels": 1,
        "source": source,
        # The value is HKO's own total of the past 60 minutes, refreshed
        # every 15: it is the 1-h accumulation as it stands, not a step to be
        # summed with its neighbours.
        "accumulations_mm": {"1": point.rain_mm},
    }
    registry.validate(msg, SCHEMA)
    return msg
