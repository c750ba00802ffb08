"""Plain CSV stage series as gauge observations.

A series file has a header row and one reading per row. Which columns hold
the time, the station id and the stage is given by a mapping (in a scenario
manifest: ``columns = {time = "timestamp_kst", station = "station_id",
stage = "wl"}``, the layout of the HRFCO Miho Bridge file). A time with an
offset keeps it; a time without one is local time at the station and gets
the station's time zone (``Asia/Seoul`` for Miho Bridge, so
``2023-07-15 10:00`` is 01:00 UTC). The stage is in the station's unit; a
manifest may state the file's unit, which must then be the station's.

Blank stages are returned as missing, unreadable ones and those of
undeclared stations as rejections, each with where it was in the file.
The message form of the readings is :func:`to_message` / :func:`from_message`.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from connectors.station import (
    GaugeObservation,
    GaugeRead,
    Station,
    from_message,
    screen_series,
    to_message,
)
from models.quality import (
    DEFAULT_STAGE_LIMIT,
    Rejection,
    StageLimit,
    check_stage_unit,
)
from schemas.errors import ConfigError, InputError, ParseError, UnknownReferenceError

__all__ = ["DEFAULT_COLUMNS", "from_message", "read_gauge_csv", "to_message"]

logger = logging.getLogger(__name__)

DEFAULT_COLUMNS = {"time": "timestamp_kst", "station": "station_id", "stage": "wl"}
ROLES = ("time", "station", "stage")


def _check_columns(columns: Mapping[str, str], header: list[str], path: Path) -> None:
    missing_roles = [role for role in ROLES if role not in columns]
    if missing_roles:
        raise ConfigError(
            f"{path}: column mapping {dict(columns)} lacks {missing_roles}, "
            f"expected a column name for each of {list(ROLES)}"
        )
    absent = [columns[role] for role in ROLES if columns[role] not in header]
    if absent:
        raise ConfigError(
            f"{path}: columns {absent} named in the mapping are not in the "
            f"header {header}"
        )


def _local_time(
    text: str, station: Station, time_format: str | None, where: str
) -> datetime:
    try:
        if time_format is None:
            time = datetime.fromisoformat(text.strip())
        else:
            time = datetime.strptime(text.strip(), time_format)
    except ValueError:
        raise ParseError(
            f"{where}: time {text!r} does not read as "
            f"{time_format or 'ISO-8601 (YYYY-MM-DD HH:MM)'}"
        ) from None
    if time.tzinfo is None:
        # XXX: a local time in a zone with daylight saving is ambiguous for
        # one hour each autumn; the earlier reading (fold=0) is taken.
        time = time.replace(tzinfo=station.zone())
    return time


def read_gauge_csv(
    path: str | Path,
    stations: Mapping[str, Station],
    *,
    columns: Mapping[str, str] = DEFAULT_COLUMNS,
    station_ids: list[str] | None = None,
    time_format: str | None = None,
    unit: str | None = None,
    source: str = "csv",
    limit: StageLimit = DEFAULT_STAGE_LIMIT,
) -> GaugeRead:
    """Read a CSV stage series.

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, with or without a byte-order mark, header row).
    stations : mapping of str to Station
        Declared stations by id.
    columns : mapping of str to str
        Column name for each of ``time``, ``station`` and ``stage``.
    station_ids : list of str, optional
        Keep only rows of these stations; default all rows.
    time_format : str, optional
        ``strptime`` format of the time column; default ISO-8601.
    unit : str, optional
        Unit of the stage column (``m`` or ``ft``); must be the station's.
    source : str
        ``source`` of the observations.
    limit : StageLimit
        Largest believable change between readings.

    Returns
    -------
    GaugeRead
        Observations in time order, and the rejections.

    Raises
    ------
    ConfigError
        The mapping names a column the file does not have.
    ParseError
        The file cannot be read as CSV.
    """
    path = Path(path)
    read = GaugeRead()
    candidates: list[tuple[str, GaugeObservation]] = []
    unit_checked: set[str] = set()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = csv.DictReader(handle)
            _check_columns(columns, list(rows.fieldnames or []), path)
            for row in rows:
                where = f"{path.name} line {rows.line_num}"
                station_id = (row[columns["station"]] or "").strip()
                if station_ids is not None and station_id not in station_ids:
                    continue
                try:
                    obs = _observation(
                        row, columns, stations, station_id, time_format, source, where
                    )
                    if obs is None:
                        read.rejected.append(
                            Rejection(where, "missing", f"{where}: stage is blank")
                        )
                        continue
                    if unit is not None and station_id not in unit_checked:
                        check_stage_unit(unit, obs.station.unit, where=where)
                        unit_checked.add(station_id)
                except InputError as exc:
                    read.rejected.append(Rejection.from_error(where, exc))
                    continue
                candidates.append((where, obs))
    except FileNotFoundError:
        raise ConfigError(f"gauge CSV {path} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None

    screen_series(candidates, read, limit=limit)
    logger.info(
        "read %s: %d readings kept, %d refused",
        path.name,
        len(read.observations),
        len(read.rejected),
    )
    return read


def _observation(
    row: Mapping[str, str | None],
    columns: Mapping[str, str],
    stations: Mapping[str, Station],
    station_id: str,
    time_format: str | None,
    source: str,
    where: str,
) -> GaugeObservation | None:
    station = stations.get(station_id)
    if station is None:
        raise UnknownReferenceError(
            f"{where}: station {station_id!r} is not in the station file"
        )
    text = (row[columns["stage"]] or "").strip()
    if not text:
        return None
    try:
        stage = float(text)
    except ValueError:
        raise ParseError(f"{where}: stage {text!r} is not a number") from None
    time = _local_time(row[columns["time"]] or "", station, time_format, where)
    return GaugeObservation(station, time, stage, source=source)
