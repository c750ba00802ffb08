"""Scenario feeds of fire-weather, rain-near-slope, slope-sensor and quake files.

:mod:`connectors.scenario` plays these kinds through :func:`records` and
checks their ``[feeds.options]`` with :func:`check_options`:

fire_csv -> ``obs.fire`` (``fire_obs/1``, daily)
    A fire-weather station CSV (:mod:`connectors.fire_csv`). ``utc_offset_h``
    (offset of the file's local standard time, default 8), ``stations``
    (ids to play, default all) and, to place a recorded station elsewhere,
    ``station`` (the id it plays under), ``place_at`` ([lon, lat]) and
    ``county`` (the county code it reports for). Keyed by station id.
usgs_quake -> ``obs.geo`` (``quake_event/1``)
    A USGS GeoJSON summary feed (:mod:`connectors.usgs_quake`), played in
    origin-time order. ``key`` (default ``usgs``): every event of a network
    shares one key, so one partition keeps them in order. ``min_magnitude``
    plays only the events of at least that magnitude, as the USGS feeds cut
    at M1.0, M2.5 or M4.5 do. The catalogue's ``updated`` time is kept as
    recorded; a feed's ``time_shift`` moves the origin ``time`` only.
geo_rain -> ``obs.geo`` (``geo_rain/1``)
    A THRESH hourly rain file (:mod:`connectors.usgs_rain`, hundredths of
    an inch converted to mm there). ``place_at`` and ``area_codes``
    (required: the file has neither), ``gauge`` (id, default the file's
    station number), ``name``, ``site`` (the key, default the gauge id; give
    the slope site's id so its rain and sensors share a partition) and
    ``utc_offset_h`` (default -8).
slope_csv -> ``obs.geo`` (``slope_sensor/1``)
    A CSV of readings ``time,sensor,value,unit`` and ``site_file``, a TOML
    file with the ``[site]`` (id, name, lon, lat, area_codes) and its
    ``[[sensors]]`` (id, kind, lon, lat and the alarm ``rule``). A unit
    other than the sensor kind's, or a sensor the site file lacks, is a
    refused reading. Keyed by site id.

Every kind also takes ``source``. To move a feed in time, give the feed
its own ``time_shift`` (see :mod:`connectors.scenario`).
"""

from __future__ import annotations

import csv
import logging
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from connectors import fire_csv, usgs_quake, usgs_rain
from connectors.scenario import Feed, ReplayRecord
from models.quality import Rejection, parse_time
from models.slope_sensors import KIND_UNITS
from pipeline.hazards.geo_evidence import READING_FIELDS
from schemas.errors import (
    ConfigError,
    InputError,
    ParseError,
    UnitError,
    UnknownReferenceError,
)

logger = logging.getLogger(__name__)

# What of a site file goes into slope_sensor/1 (other keys are notes).
SITE_KEYS = ("id", "name", "lon", "lat", "area_codes")
SENSOR_KEYS = ("id", "kind", "lon", "lat", "rule")
# How a CSV writes each sensor kind's unit.
CSV_UNITS = {"mm": "mm", "kPa": "kpa", "%": "pct"}

Resolve = Callable[[object, str], Path]


def check_options(
    kind: str, options: dict[str, Any], resolve: Resolve, where: str
) -> None:
    """Check a feed's options in place; ``resolve`` finds a named file.

    Raises
    ------
    ConfigError
        An option is missing or of the wrong kind; the message names it.
    """
    for name in ("utc_offset_h", "min_magnitude"):
        value = options.get(name, 0.0)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}.{name} = {value!r}, expected a number")
    if "place_at" in options or kind == "geo_rain":
        options["place_at"] = _lonlat(options.get("place_at"), f"{where}.place_at")
    if kind == "geo_rain":
        options["area_codes"] = _strings(
            options.get("area_codes"), f"{where}.area_codes"
        )
    if kind == "slope_csv":
        options["site_file"] = resolve(options.get("site_file"), f"{where}.site_file")
        load_site(options["site_file"])
    if kind == "fire_csv" and "stations" in options:
        options["stations"] = _strings(options["stations"], f"{where}.stations")
    for name in ("station", "county", "gauge", "name", "site", "key", "source"):
        if name in options and not (isinstance(options[name], str) and options[name]):
            raise ConfigError(f"{where}.{name} = {options[name]!r}, expected a text")


def _lonlat(value: Any, where: str) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2
    if not ok or not all(isinstance(v, int | float) for v in value):
        raise ConfigError(f"{where} = {value!r}, expected [lon, lat] in degrees")
    lon, lat = float(value[0]), float(value[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ConfigError(f"{where} = {value!r} is off the globe")
    return lon, lat


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} = {value!r}, expected a list of strings")
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} = {value!r}, expected a list of strings")
    return list(value)


def records(feed: Feed, rejected: list[Rejection]) -> Iterator[ReplayRecord]:
    """Every record of a hazard feed, in time order."""
    read = {
        "fire_csv": _fire,
        "usgs_quake": _quake,
        "geo_rain": _rain,
        "slope_csv": _slope,
    }[feed.kind]
    for key, msg in read(feed, rejected):
        time = parse_time(msg["time"], where=feed.name)
        yield ReplayRecord(time, feed.topic, key.encode(), msg, feed.name)


def _fire(
    feed: Feed, rejected: list[Rejection]
) -> Iterator[tuple[str, dict[str, Any]]]:
    opts = feed.options
    read = fire_csv.read_fire_csv(feed.path, utc_offset_h=opts.get("utc_offset_h", 8.0))
    rejected.extend(read.rejected)
    wanted = opts.get("stations")
    observations = [
        o for o in read.observations if wanted is None or o.station in wanted
    ]
    if "station" in opts and len({o.station for o in observations}) > 1:
        raise ConfigError(
            f"feed {feed.name}: station = {opts['station']!r} renames one station, "
            "but the file gives several; choose one with stations = [...]"
        )
    lon, lat = opts.get("place_at", (None, None))
    for obs in sorted(observations, key=lambda o: o.time):
        station = {
            "id": opts.get("station", obs.station),
            "lon": obs.lon if lon is None else lon,
            "lat": obs.lat if lat is None else lat,
            "county": opts.get("county", obs.county),
        }
        yield (
            station["id"],
            {
                "schema": "fire_obs/1",
                "source": opts.get("source", "fire-csv"),
                "station": station,
                "period": "daily",
                "time": obs.time.isoformat(),
                "temp_c": obs.temp_c,
                "rh_pct": obs.rh_pct,
                "wind_kmh": obs.wind_kmh,
                "rain_24h_mm": obs.rain_mm,
            },
        )


def quake_message(event: Any, source: str) -> dict[str, Any]:
    """The ``quake_event/1`` message of a :class:`models.quake.QuakeEvent`."""
    return {
        "schema": "quake_event/1",
        "source": source,
        "event_id": event.event_id,
        "time": event.time.astimezone(UTC).isoformat(),
        "updated": (event.updated or event.time).astimezone(UTC).isoformat(),
        "lon": event.lon,
        "lat": event.lat,
        "depth_km": event.depth_km,
        "magnitude": event.magnitude,
        "magnitude_type": event.magnitude_type,
        "place": event.place,
        "event_type": event.event_type,
        "status": event.status,
    }


def _quake(
    feed: Feed, rejected: list[Rejection]
) -> Iterator[tuple[str, dict[str, Any]]]:
    parsed = usgs_quake.read_feed(feed.path)
    rejected.extend(parsed.rejected)
    source = feed.options.get("source", "usgs")
    key = feed.options.get("key", "usgs")
    least = feed.options.get("min_magnitude")
    events = [
        e
        for e in parsed.events
        if least is None or (e.magnitude is not None and e.magnitude >= least)
    ]
    if len(events) < len(parsed.events):
        logger.info(
            "feed %s: %d of %d events from magnitude %s",
            feed.name,
            len(events),
            len(parsed.events),
            least,
        )
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        yield key, quake_message(event, source)


def _rain(
    feed: Feed, rejected: list[Rejection]
) -> Iterator[tuple[str, dict[str, Any]]]:
    opts = feed.options
    series = usgs_rain.read_thresh_hourly(
        feed.path, utc_offset_h=opts.get("utc_offset_h", -8.0)
    )
    if series.no_data_h:
        rejected.append(
            Rejection(
                feed.path.name,
                "missing",
                f"{feed.path.name}: {series.no_data_h} hours marked no data",
            )
        )
    lon, lat = opts["place_at"]
    gauge = {"id": opts.get("gauge", series.station), "lon": lon, "lat": lat}
    if "name" in opts:
        gauge["name"] = opts["name"]
    gauge["area_codes"] = list(opts["area_codes"])
    key = opts.get("site", gauge["id"])
    hour = timedelta(hours=1)
    for start, rain_mm in zip(series.times, series.rain_mm, strict=True):
        yield (
            key,
            {
                "schema": "geo_rain/1",
                "source": opts.get("source", "usgs-thresh"),
                "gauge": gauge,
                "time": (start + hour).isoformat(),
                "step_s": 3600,
                "rain_mm": rain_mm,
            },
        )


def load_site(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A slope site file: the site and its sensors by id."""
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        site = {k: table["site"][k] for k in SITE_KEYS if k in table["site"]}
        sensors = {
            str(s["id"]): {k: s[k] for k in SENSOR_KEYS if k in s}
            for s in table["sensors"]
        }
    except FileNotFoundError:
        raise ConfigError(f"slope site file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: expected a [site] table and [[sensors]] tables ({exc!r})"
        ) from None
    for sensor in sensors.values():
        if sensor.get("kind") not in KIND_UNITS:
            raise ConfigError(
                f"{path}: sensor {sensor['id']} kind {sensor.get('kind')!r}; "
                f"expected one of {sorted(KIND_UNITS)}"
            )
    return site, sensors


def _slope(
    feed: Feed, rejected: list[Rejection]
) -> Iterator[tuple[str, dict[str, Any]]]:
    site, sensors = load_site(feed.options["site_file"])
    source = feed.options.get("source", "slope-csv")
    try:
        with feed.path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{feed.path}: not a readable UTF-8 CSV ({exc})") from None
    readings = []
    for number, row in enumerate(rows, start=2):
        where = f"{feed.path.name} line {number}"
        try:
            readings.append(_reading(row, sensors, where))
        except InputError as exc:
            rejected.append(Rejection.from_error(where, exc))
    for time, sensor, field, value in sorted(
        readings, key=lambda r: (r[0], r[1]["id"])
    ):
        yield (
            site["id"],
            {
                "schema": "slope_sensor/1",
                "source": source,
                "site": site,
                "sensor": sensor,
                "time": time.isoformat(),
                field: value,
            },
        )


def _reading(
    row: dict[str, str], sensors: dict[str, dict[str, Any]], where: str
) -> tuple[Any, dict[str, Any], str, float]:
    sensor_id = (row.get("sensor") or "").strip()
    if sensor_id not in sensors:
        raise UnknownReferenceError(
            f"{where}: sensor {sensor_id!r} is not in the site file"
        )
    sensor = sensors[sensor_id]
    kind = sensor["kind"]
    unit = (row.get("unit") or "").strip()
    if CSV_UNITS.get(unit) != KIND_UNITS[kind]:
        expected = next(u for u, k in CSV_UNITS.items() if k == KIND_UNITS[kind])
        raise UnitError(f"{where}: {kind} in {unit!r}; expected {expected!r}")
    text = (row.get("value") or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"{where}: value {text!r} is not a number") from None
    time = parse_time(row.get("time") or "", where=where)
    return time, sensor, READING_FIELDS[kind], value
