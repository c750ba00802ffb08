"""USGS instantaneous values (WaterML-JSON 1.1) as gauge observations.

The NWIS instantaneous-values service answers with one ``timeSeries`` per
site and parameter. Each holds the site (``sourceInfo.siteCode``), the
parameter (``variable.variableCode``, its unit in ``variable.unit.unitCode``
and its no-data marker in ``variable.noDataValue``) and the readings in
``values[].value[]`` as ``{"value": "20.37", "dateTime":
"2019-03-01T05:00:00.000-06:00", "qualifiers": ["P"]}``: the value is a
string, the time carries its offset (local standard time at the site).

Only one parameter is read, by default 00065 (gage height, ft). Readings
equal to the no-data marker, values that are not numbers, series of sites
not in the station file and series in a unit other than the station's are
returned as rejections with their reason, never dropped unseen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.station import GaugeObservation, GaugeRead, Station, screen_series
from models.quality import (
    DEFAULT_STAGE_LIMIT,
    Rejection,
    StageLimit,
    check_stage_unit,
    parse_time,
)
from schemas.errors import InputError, ParseError, SchemaError, UnknownReferenceError

logger = logging.getLogger(__name__)

GAGE_HEIGHT = "00065"
SOURCE = "usgs-nwis"


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: arrays or objects nested deeper than Python reads
        raise ParseError(
            f"{path}: not a readable WaterML-JSON file ({str(exc)[:200]})"
        ) from None
    try:
        series = document["value"]["timeSeries"]
    except (KeyError, TypeError):
        raise ParseError(
            f"{path}: no value.timeSeries, expected a WaterML-JSON 1.1 response"
        ) from None
    if not isinstance(series, list):
        raise ParseError(f"{path}: value.timeSeries is not a list")
    return series


def _series_header(series: Mapping[str, Any], path: Path) -> tuple[str, str, str, Any]:
    """Site code, parameter code, unit and no-data value of one series."""
    name = series.get("name", "?") if isinstance(series, Mapping) else "?"
    try:
        site = series["sourceInfo"]["siteCode"][0]["value"]
        variable = series["variable"]
        parameter = variable["variableCode"][0]["value"]
        unit = variable["unit"]["unitCode"]
        nodata = variable.get("noDataValue")
    except (KeyError, IndexError, TypeError, AttributeError):
        # TypeError, AttributeError: a list or a number where an object belongs
        raise ParseError(
            f"{path}: series {name!r} lacks sourceInfo.siteCode "
            "or variable.variableCode/unit"
        ) from None
    return str(site), str(parameter), str(unit), nodata


def _readings(series: Mapping[str, Any], path: Path) -> list[Any]:
    blocks = series.get("values", [])
    if not isinstance(blocks, list) or not all(
        isinstance(b, Mapping) and isinstance(b.get("value", []), list) for b in blocks
    ):
        raise ParseError(
            f"{path}: series {series.get('name', '?')!r}: values is not a list of "
            "blocks holding a value list"
        )
    return [v for block in blocks for v in block.get("value", [])]


def read_usgs_iv(
    path: str | Path,
    stations: Mapping[str, Station],
    *,
    parameter: str = GAGE_HEIGHT,
    source: str = SOURCE,
    site_ids: list[str] | None = None,
    limit: StageLimit = DEFAULT_STAGE_LIMIT,
) -> GaugeRead:
    """Read the stage series of one WaterML-JSON 1.1 response.

    Parameters
    ----------
    path : str or Path
        The response file.
    stations : mapping of str to Station
        Declared stations by USGS site code (``"02489500"``).
    parameter : str
        USGS parameter code to read; 00065 is gage height.
    source : str
        ``source`` of the observations.
    site_ids : list of str, optional
        Read only these sites; default all in the file.
    limit : StageLimit
        Largest believable change between readings.

    Returns
    -------
    GaugeRead
        Observations in time order, and the rejections.

    Raises
    ------
    ParseError
        The file is not WaterML-JSON.
    """
    path = Path(path)
    read = GaugeRead()
    candidates: list[tuple[str, GaugeObservation]] = []
    for series in _load(path):
        site, code, unit, nodata = _series_header(series, path)
        if code != parameter or (site_ids is not None and site not in site_ids):
            continue
        readings = _readings(series, path)
        where = f"{path.name} {series.get('name', site)}"

        station = stations.get(site)
        try:
            if station is None:
                raise UnknownReferenceError(
                    f"{where}: site {site} is not in the station file; "
                    f"its {len(readings)} readings are not used"
                )
            check_stage_unit(unit, station.unit, where=where)
            nodata = _nodata(nodata, where)
        except InputError as exc:
            read.rejected.append(Rejection.from_error(where, exc))
            continue

        for reading in readings:
            if not isinstance(reading, Mapping):
                error = SchemaError(
                    f"{where}: reading {str(reading)[:60]!r} is not an object with "
                    "value and dateTime"
                )
                read.rejected.append(Rejection.from_error(where, error))
                continue
            stamp = reading.get("dateTime", "?")
            here = f"{where} {stamp}"
            try:
                time = parse_time(str(stamp), where=here)
                stage = _number(reading.get("value"), here)
            except InputError as exc:
                read.rejected.append(Rejection.from_error(here, exc))
                continue
            if nodata is not None and stage == nodata:
                read.rejected.append(
                    Rejection(here, "missing", f"{here}: no-data value {nodata}")
                )
                continue
            candidates.append(
                (here, GaugeObservation(station, time, stage, source=source))
            )

    screen_series(candidates, read, limit=limit)
    logger.info(
        "read %s: %d %s readings kept, %d refused",
        path.name,
        len(read.observations),
        parameter,
        len(read.rejected),
    )
    return read


def _nodata(value: Any, where: str) -> float | None:
    """The series' no-data marker as a number (None when it declares none)."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{where}: variable.noDataValue {value!r} is not a number"
        ) from None


def _number(text: object, where: str) -> float:
    try:
        return float(str(text))
    except ValueError:
        raise ParseError(f"{where}: value {text!r} is not a number") from None
