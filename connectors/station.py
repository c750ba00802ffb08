"""River gauge stations, their readings and the ``gauge_obs/1`` message.

A :class:`Station` is read from a station record file (TOML, one table per
station id, see ``data/samples/gauge/stations.toml``); it declares the unit
its stage is published in and its flood levels in that unit. A
:class:`GaugeObservation` is one stage reading of a station at an aware time.

Levels come in one of two schemes, as :mod:`models.flood` reads them:
``colour`` (``blue``, ``yellow``, ``orange``, ``red``) or ``cn_hydro``
(``warning``, ``guarantee``, ``record``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.quality import (
    DEFAULT_STAGE_LIMIT,
    Rejection,
    StageLimit,
    check_stage,
    check_stage_jump,
    parse_time,
)
from schemas import registry
from schemas.errors import ConfigError, InputError

SCHEMA = "gauge_obs/1"
LEVEL_KEYS = {
    "colour": ("blue", "yellow", "orange", "red"),
    "cn_hydro": ("warning", "guarantee", "record"),
}
# Fields of a station table; nws_id and note are kept for people, not read.
STATION_KEYS = frozenset(
    {"name", "river", "lon", "lat", "tz", "unit", "level_scheme", "levels"}
    | {"area_codes", "nws_id", "note"}
)


@dataclass(frozen=True)
class Station:
    """A river gauge and the flood levels it is judged against.

    Parameters
    ----------
    id, name, river : str
        Station id (message key on ``obs.gauge``), name, river.
    lon, lat : float
        Position, degrees east and north (WGS 84).
    tz : str
        IANA time zone of the station's local time.
    unit : str
        ``"m"`` or ``"ft"``: the unit of its stages and levels.
    levels : dict of str to float
        Flood levels in ``unit``, keyed by the names of ``level_scheme``.
    level_scheme : str
        ``"colour"`` or ``"cn_hydro"``.
    area_codes : list of str
        Town (or point-area) codes a warning at this station covers.
    """

    id: str
    name: str
    river: str
    lon: float
    lat: float
    tz: str
    unit: str
    levels: dict[str, float]
    level_scheme: str
    area_codes: list[str] = field(default_factory=list)

    def zone(self) -> ZoneInfo:
        """The station's time zone."""
        return ZoneInfo(self.tz)

    def with_area_codes(self, area_codes: list[str]) -> Station:
        """A copy of the station covering ``area_codes`` instead."""
        return replace(self, area_codes=list(area_codes))


@dataclass(frozen=True)
class GaugeObservation:
    """One stage reading.

    Parameters
    ----------
    station : Station
        The station that read it.
    time : datetime
        Observation time, aware, in the offset the source gave.
    stage : float
        Stage in ``station.unit``.
    source : str
        Who published the reading (``usgs-nwis``, ``hrfco``).
    """

    station: Station
    time: datetime
    stage: float
    source: str = "gauge"


@dataclass
class GaugeRead:
    """What a gauge reader found: the readings it kept and those it refused."""

    observations: list[GaugeObservation] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _station_from_table(
    station_id: str, table: Mapping[str, Any], where: str
) -> Station:
    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in table:
            raise ConfigError(f"{where}: station {station_id} has no {key!r}")
        value = table[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(
                f"{where}: station {station_id} {key} = {value!r}, "
                f"expected {getattr(kind, '__name__', 'a number')}"
            )
        return value

    unknown_keys = set(table) - STATION_KEYS
    if unknown_keys:
        raise ConfigError(
            f"{where}: station {station_id} has unknown fields "
            f"{sorted(unknown_keys)}, expected some of {sorted(STATION_KEYS)}"
        )
    scheme = need("level_scheme", str)
    if scheme not in LEVEL_KEYS:
        raise ConfigError(
            f"{where}: station {station_id} level_scheme {scheme!r}, "
            "expected 'colour' or 'cn_hydro'"
        )
    unit = need("unit", str)
    if unit not in ("m", "ft"):
        raise ConfigError(
            f"{where}: station {station_id} unit {unit!r}, expected 'm' or 'ft'"
        )
    tz = need("tz", str)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: station {station_id} tz {tz!r} is not an IANA time zone"
        ) from None

    levels = need("levels", dict)
    unknown = set(levels) - set(LEVEL_KEYS[scheme])
    if unknown or not levels:
        raise ConfigError(
            f"{where}: station {station_id} levels {sorted(levels)} do not fit "
            f"scheme {scheme!r}, expected some of {list(LEVEL_KEYS[scheme])}"
        )
    for key, value in levels.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(
                f"{where}: station {station_id} level {key} = {value!r}, "
                f"expected a stage in {unit}"
            )
    area_codes = table.get("area_codes", [])
    if not isinstance(area_codes, list) or not all(
        isinstance(c, str) and c for c in area_codes
    ):
        raise ConfigError(
            f"{where}: station {station_id} area_codes {area_codes!r}, "
            "expected a list of codes"
        )

    return Station(
        id=station_id,
        name=need("name", str),
        river=need("river", str),
        lon=float(need("lon", (int, float))),
        lat=float(need("lat", (int, float))),
        tz=tz,
        unit=unit,
        levels={k: float(v) for k, v in levels.items()},
        level_scheme=scheme,
        area_codes=list(area_codes),
    )


def load_stations(path: str | Path) -> dict[str, Station]:
    """Read a station record file: ``[stations.<id>]`` tables.

    Raises
    ------
    ConfigError
        The file is missing, not TOML, or a station lacks a field or has a
        wrong one (the message names the station and field).
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"station file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"station file {path} is not TOML: {exc}") from None
    tables = document.get("stations")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"station file {path} has no [stations.<id>] tables")
    return {
        str(station_id): _station_from_table(str(station_id), table, str(path))
        for station_id, table in tables.items()
    }


def to_message(obs: GaugeObservation) -> dict[str, Any]:
    """The ``gauge_obs/1`` message of ``obs`` (validated)."""
    station = obs.station
    msg = {
        "schema": SCHEMA,
        "source": obs.source,
        "station": {
            "id": station.id,
            "name": station.name,
            "river": station.river,
            "lon": station.lon,
            "lat": station.lat,
            "tz": station.tz,
            "unit": station.unit,
            "levels": dict(station.levels),
            "area_codes": list(station.area_codes),
        },
        "time": obs.time.isoformat(),
        "stage": obs.stage,
    }
    registry.validate(msg, SCHEMA)
    return msg


def from_message(msg: Mapping[str, Any]) -> GaugeObservation:
    """Read a ``gauge_obs/1`` message back into an observation.

    Raises
    ------
    SchemaError
        The message is not ``gauge_obs/1``.
    ParseError, UnitError
        Its time cannot be read or has no offset.
    """
    registry.validate(msg, SCHEMA)
    body = msg["station"]
    levels = body["levels"]
    scheme = "colour" if set(levels) <= set(LEVEL_KEYS["colour"]) else "cn_hydro"
    station = Station(
        id=body["id"],
        name=body["name"],
        river=body["river"],
        lon=float(body["lon"]),
        lat=float(body["lat"]),
        tz=body["tz"],
        unit=body["unit"],
        levels={k: float(v) for k, v in levels.items()},
        level_scheme=scheme,
        area_codes=list(body["area_codes"]),
    )
    time = parse_time(msg["time"], where=f"{SCHEMA} {station.id}")
    return GaugeObservation(
        station=station, time=time, stage=float(msg["stage"]), source=msg["source"]
    )


def screen_series(
    candidates: list[tuple[str, GaugeObservation]],
    read: GaugeRead,
    *,
    limit: StageLimit = DEFAULT_STAGE_LIMIT,
) -> None:
    """Check parsed readings in time order and sort them into ``read``.

    Each candidate is ``(where, observation)``. Per station, a reading must
    be finite and within ``limit`` of the last reading kept; those that are
    not are added to ``read.rejected``, the rest to ``read.observations``
    (in time order, ties by station id).
    """
    last: dict[str, GaugeObservation] = {}
    kept: list[GaugeObservation] = []
    ordered = sorted(candidates, key=lambda c: (c[1].time, c[1].station.id))
    for where, obs in ordered:
        try:
            check_stage(obs.stage, where=where)
            previous = last.get(obs.station.id)
            if previous is not None:
                # XXX: readings are judged against the last one kept, so a
                # wrong first reading would make every true one after it look
                # like a jump; a series that starts with a glitch needs a
                # look by hand.
                check_stage_jump(
                    previous.stage,
                    previous.time,
                    obs.stage,
                    obs.time,
                    unit=obs.station.unit,
                    where=where,
                    limit=limit,
                )
        except InputError as exc:
            read.rejected.append(Rejection.from_error(where, exc))
            continue
        last[obs.station.id] = obs
        kept.append(obs)
    read.observations.extend(kept)
