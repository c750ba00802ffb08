"""Scenario manifests: which recorded feeds a replay plays, and how.

A scenario is a folder with a ``manifest.toml`` (a full one is
``data/scenarios/zhaoqing-exercise/manifest.toml``): ``name``,
``description``, ``status`` (Exercise, Actual or Test), ``region`` (default
zhaoqing), ``time_shift`` (required: ``"none"`` or an ISO-8601 duration such
as ``"P3D"`` or ``"-PT6H"``), optional ``rulesets`` (hazard to the name of a
``models/rulesets`` file), and ``[[feeds]]`` with ``kind`` (radar_bom,
radar_knmi, gauge_csv, gauge_usgs, rain_hko, and the fire and geological
kinds fire_csv, usgs_quake, geo_rain, slope_csv whose options
:mod:`pipeline.hazards.feeds` describes), ``path``, ``topic``, an
optional ``name`` (default ``<kind>-<index>``), optional ``start``/``end``
(inclusive clip, ISO-8601 with offset) and a ``[feeds.options]`` table.

A feed's ``path`` is looked up first in the scenario folder, then in the
repository's ``data/samples``. Options by kind:

radar_bom, radar_knmi
    ``place_at`` ([lon, lat], degrees) and ``transposed`` (bool, default
    false; true needs ``place_at``), ``pattern`` (glob in a folder, default
    ``*.nc`` / ``*.h5``).
gauge_csv, gauge_usgs
    ``stations`` (ids to replay, required), ``stations_file`` (default
    ``gauge/stations.toml``), ``area_codes`` (table of id to codes, replacing
    the station file's), ``source``; gauge_csv also ``columns`` (table of
    time/station/stage to column names), ``time_format`` and ``unit``;
    gauge_usgs also ``parameter`` (default 00065).
rain_hko
    ``stations`` (codes, default all), ``stations_file`` (default
    ``rain/hko_rf_stations.csv``), ``source``.

:meth:`Scenario.records` merges the feeds in time order with :func:`heapq.merge`
over one generator per feed, so a radar feed holds one frame at a time. Each
kind's records are read by :mod:`connectors.feed_records`; radar files by
the reader registered for their kind in :data:`RADAR_READERS`, imported
only when a radar feed plays. A non-zero
``time_shift`` moves every record's time (and the time field in its message)
by that much; ``"none"`` leaves times as recorded. A feed may carry its own
``time_shift`` too, added to the scenario's after its ``start``/``end`` clip
(which stays in recorded time). Readings a reader refuses
are kept per feed in :attr:`Scenario.rejected`, never dropped unseen.
"""

from __future__ import annotations

import heapq
import importlib
import logging
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.gauge_csv import DEFAULT_COLUMNS, ROLES
from connectors.station import Station, load_stations
from models.quality import Rejection, parse_time
from schemas.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "data" / "samples"
RULESETS_DIR = REPO_ROOT / "models" / "rulesets"
MANIFEST = "manifest.toml"

STATUSES = ("Exercise", "Actual", "Test")
KINDS = ("radar_bom", "radar_knmi", "gauge_csv", "gauge_usgs", "rain_hko")
# The hazard kinds, read and checked by pipeline.hazards.feeds (see there).
HAZARD_KINDS = ("fire_csv", "usgs_quake", "geo_rain", "slope_csv")
KINDS += HAZARD_KINDS
DEFAULT_TOPICS = dict.fromkeys(("radar_bom", "radar_knmi"), "obs.radar") | {
    "gauge_csv": "obs.gauge",
    "gauge_usgs": "obs.gauge",
    "rain_hko": "rain.area",
    "fire_csv": "obs.fire",
}
DEFAULT_TOPICS |= dict.fromkeys(("usgs_quake", "geo_rain", "slope_csv"), "obs.geo")
# kind -> (module, function): the function reads one file into a RadarFrame.
RADAR_READERS: dict[str, tuple[str, str]] = {
    "radar_bom": ("connectors.radar_bom", "read_bom_frame"),
    "radar_knmi": ("connectors.radar_knmi", "read_knmi_frame"),
}
RADAR_PATTERNS = {"radar_bom": "*.nc", "radar_knmi": "*.h5"}
OPTIONS = {
    "radar_bom": {"place_at", "transposed", "pattern"},
    "radar_knmi": {"place_at", "transposed", "pattern"},
    "gauge_csv": {"stations", "stations_file", "area_codes", "source", "columns"}
    | {"time_format", "unit"},
    "gauge_usgs": {"stations", "stations_file", "area_codes", "source", "parameter"},
    "rain_hko": {"stations", "stations_file", "source"},
    "fire_csv": {"utc_offset_h", "stations", "station", "place_at", "county"},
    "usgs_quake": {"key", "min_magnitude"},
    "geo_rain": {"place_at", "area_codes", "gauge", "name", "site", "utc_offset_h"},
    "slope_csv": {"site_file"},
}
OPTIONS |= {kind: OPTIONS[kind] | {"source"} for kind in HAZARD_KINDS}
# The field of each message that holds its time, for time_shift.
TIME_FIELDS = {"gauge_obs/1": "time", "area_rain/1": "time"} | {
    "radar_frame/1": "valid_time"
}
TIME_FIELDS |= dict.fromkeys(
    ("fire_obs/1", "geo_rain/1", "slope_sensor/1", "quake_event/1"), "time"
)

_TOP_KEYS = {"name", "description", "status", "region", "time_shift", "rulesets"}
_FEED_KEYS = {"name", "kind", "path", "topic", "start", "end", "options"}
_FEED_KEYS |= {"time_shift"}
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_DURATION_RE = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?"
    r"(?:(?P<s>\d+)S)?)?$"
)


@dataclass(frozen=True)
class ReplayRecord:
    """One record to produce: its time, topic, key, value and feed name."""

    time: datetime
    topic: str
    key: bytes
    value: dict[str, Any] | bytes
    feed: str


@dataclass(frozen=True)
class Feed:
    """One validated ``[[feeds]]`` entry; ``path`` is resolved and exists."""

    name: str
    kind: str
    path: Path
    topic: str
    options: dict[str, Any]
    start: datetime | None = None
    end: datetime | None = None
    stations: dict[str, Station] | None = None
    stations_path: Path | None = None
    time_shift: timedelta = timedelta(0)


@dataclass
class Scenario:
    """A validated scenario; :meth:`records` plays it."""

    name: str
    description: str
    status: str
    region: str
    time_shift: timedelta
    rulesets: dict[str, str]
    feeds: list[Feed]
    folder: Path
    rejected: dict[str, list[Rejection]] = field(default_factory=dict)
    #: Replay only records timed in ``[since, until]`` (after any time shift).
    since: datetime | None = None
    until: datetime | None = None

    def window(self, since: datetime | None, until: datetime | None) -> Scenario:
        """The same scenario, replaying only the records timed since to until.

        Both ends are inclusive, aware datetimes compared with the records'
        published times (after the scenario's ``time_shift``); ``None``
        leaves that end open. An after-action review replays one day so.
        Readings the connectors refuse are dead-lettered whatever their time:
        a reading refused for its time has none to compare.
        """
        for name, bound in (("since", since), ("until", until)):
            if bound is not None and bound.utcoffset() is None:
                raise ConfigError(
                    f"scenario {self.name}: {name} {bound.isoformat()} has no "
                    "UTC offset; give one, such as +08:00 or Z"
                )
        if since is not None and until is not None and until < since:
            raise ConfigError(
                f"scenario {self.name}: window ends ({until.isoformat()}) before "
                f"it starts ({since.isoformat()})"
            )
        return replace(self, since=since, until=until, rejected={})

    def records(self) -> Iterator[ReplayRecord]:
        """Every feed's records merged in time order (ties: manifest order)."""
        self.rejected = {feed.name: [] for feed in self.feeds}
        streams = [self._feed_records(feed) for feed in self.feeds]
        merged = heapq.merge(*streams, key=lambda record: record.time)
        if self.since is None and self.until is None:
            return merged
        return self._windowed(merged)

    def _windowed(self, merged: Iterator[ReplayRecord]) -> Iterator[ReplayRecord]:
        for record in merged:
            if self.since is not None and record.time < self.since:
                continue
            if self.until is not None and record.time > self.until:
                return
            yield record

    def _feed_records(self, feed: Feed) -> Iterator[ReplayRecord]:
        # the readers import this module's classes: imported when a feed plays
        from connectors.feed_records import FEED_READERS  # noqa: PLC0415

        rejected = self.rejected[feed.name]
        previous: datetime | None = None
        for record in FEED_READERS[feed.kind](feed, rejected):
            if previous is not None and record.time < previous:
                raise ConfigError(
                    f"scenario {self.name}: feed {feed.name} gives {record.time} "
                    f"after {previous}; a feed's records must be in time order"
                )
            previous = record.time
            if feed.start is not None and record.time < feed.start:
                continue
            if feed.end is not None and record.time > feed.end:
                return
            yield self._shifted(record, self.time_shift + feed.time_shift)

    def _shifted(self, record: ReplayRecord, shift: timedelta) -> ReplayRecord:
        if not shift:
            return record
        if not isinstance(record.value, dict):
            raise ConfigError(
                f"scenario {self.name}: feed {record.feed} gives raw bytes, "
                "which time_shift cannot move; use time_shift = 'none'"
            )
        value = dict(record.value)
        name = TIME_FIELDS.get(str(value.get("schema")))
        if name is not None:
            value[name] = _shift_text(value[name], shift)
        return ReplayRecord(
            record.time + shift, record.topic, record.key, value, record.feed
        )


def _shift_text(text: str, shift: timedelta) -> str:
    time = datetime.fromisoformat(text) + shift
    if text.endswith("Z"):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return time.isoformat()


def parse_time_shift(text: object, where: str) -> timedelta:
    """``"none"`` or a signed ISO-8601 duration of days, hours, minutes, seconds."""
    if text == "none":
        return timedelta(0)
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if match is None or not any(match.group(k) for k in "dhms"):
        raise ConfigError(
            f"{where}: time_shift = {text!r}, expected 'none' or an ISO-8601 "
            "duration such as 'P3D' or '-PT6H30M'"
        )
    shift = timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"] or 0),
        minutes=int(match["m"] or 0),
        seconds=int(match["s"] or 0),
    )
    return -shift if match["sign"] == "-" else shift


def _need(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: {key} is missing")
    value: Any = table[key]
    if not isinstance(value, kind) or (kind is str and not str(value).strip()):
        raise ConfigError(
            f"{where}: {key} = {value!r}, expected a non-empty {kind.__name__}"
        )
    return value


def _resolve(folder: Path, text: object, where: str) -> Path:
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{where} = {text!r}, expected a path")
    for base in (folder, SAMPLES_DIR):
        candidate = (base / text).resolve()
        if candidate.exists():
            return candidate
    raise ConfigError(f"{where}: {text!r} is in neither {folder} nor {SAMPLES_DIR}")


def _clip_time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ConfigError(f"{where} = {value!r}, expected an ISO-8601 time")
    try:
        return parse_time(value, where=where)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def _check_lonlat(value: Any, where: str) -> tuple[float, float]:
    numbers = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
    if not numbers or not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise ConfigError(f"{where} = {value!r}, expected [lon, lat] in degrees")
    return float(value[0]), float(value[1])


def _check_radar(options: dict[str, Any], where: str) -> None:
    transposed = options.get("transposed", False)
    if not isinstance(transposed, bool):
        raise ConfigError(f"{where}.transposed = {transposed!r}, expected true/false")
    if "place_at" in options:
        options["place_at"] = _check_lonlat(options["place_at"], f"{where}.place_at")
    elif transposed:
        raise ConfigError(f"{where}.place_at is missing; transposed = true needs it")
    options["transposed"] = transposed


def _check_strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} = {value!r}, expected a list of strings")
    return list(value)


def _check_gauge(
    options: dict[str, Any], folder: Path, where: str
) -> dict[str, Station]:
    ids = _check_strings(options.get("stations"), f"{where}.stations")
    file_text = options.get("stations_file", "gauge/stations.toml")
    stations = load_stations(_resolve(folder, file_text, f"{where}.stations_file"))
    overrides = options.get("area_codes", {})
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}.area_codes = {overrides!r}, expected a table")
    for station_id, codes in overrides.items():
        if station_id not in stations:
            raise ConfigError(
                f"{where}.area_codes: station {station_id!r} is not in {file_text}"
            )
        codes = _check_strings(codes, f"{where}.area_codes.{station_id}")
        stations[station_id] = stations[station_id].with_area_codes(codes)
    for station_id in ids:
        if station_id not in stations:
            raise ConfigError(f"{where}.stations: {station_id!r} is not in {file_text}")
        if not stations[station_id].area_codes:
            raise ConfigError(
                f"{where}.area_codes: station {station_id} covers no area; give "
                "it area codes here or in the station file"
            )
    columns = options.get("columns", DEFAULT_COLUMNS)
    if not isinstance(columns, dict) or sorted(columns) != sorted(ROLES):
        raise ConfigError(
            f"{where}.columns = {columns!r}, expected a column name for each of "
            f"{list(ROLES)}"
        )
    if options.get("unit", "m") not in ("m", "ft"):
        raise ConfigError(f"{where}.unit = {options['unit']!r}, expected m or ft")
    return {station_id: stations[station_id] for station_id in ids}


def _check_rulesets(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: rulesets = {value!r}, expected a table")
    for hazard, name in value.items():
        if not isinstance(name, str) or not (RULESETS_DIR / f"{name}.toml").exists():
            raise ConfigError(
                f"{where}: rulesets.{hazard} = {name!r}, expected the name of a "
                f"file in {RULESETS_DIR}"
            )
    return dict(value)


def _feed(table: object, index: int, folder: Path, where: str) -> Feed:
    here = f"{where}: feeds[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{here} is not a table")
    unknown = set(table) - _FEED_KEYS
    if unknown:
        raise ConfigError(f"{here} has unknown keys {sorted(unknown)}")

    kind = _need(table, "kind", str, here)
    if kind not in KINDS:
        raise ConfigError(f"{here}.kind = {kind!r}, expected one of {list(KINDS)}")
    path = _resolve(folder, _need(table, "path", str, here), f"{here}.path")
    topic = table.get("topic", DEFAULT_TOPICS[kind])
    if not isinstance(topic, str) or not _TOPIC_RE.match(topic):
        raise ConfigError(f"{here}.topic = {topic!r}, expected a Kafka topic name")
    if topic != DEFAULT_TOPICS[kind]:
        logger.warning("%s: %s feed goes to %s, not %s", here, kind, topic,
                       DEFAULT_TOPICS[kind])  # fmt: skip

    options = table.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{here}.options is not a table")
    options = dict(options)
    unknown = set(options) - OPTIONS[kind]
    if unknown:
        raise ConfigError(
            f"{here}.options has unknown keys {sorted(unknown)}; {kind} takes "
            f"{sorted(OPTIONS[kind])}"
        )
    stations, stations_path = None, None
    if kind in RADAR_READERS:
        _check_radar(options, f"{here}.options")
    elif kind in ("gauge_csv", "gauge_usgs"):
        stations = _check_gauge(options, folder, f"{here}.options")
    elif kind in HAZARD_KINDS:
        hazard_feeds().check_options(
            kind, options, lambda text, w: _resolve(folder, text, w), f"{here}.options"
        )
    else:
        if "stations" in options:
            _check_strings(options["stations"], f"{here}.options.stations")
        text = options.get("stations_file", "rain/hko_rf_stations.csv")
        stations_path = _resolve(folder, text, f"{here}.options.stations_file")
    name = table.get("name", f"{kind}-{index}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{here}.name = {name!r}, expected a non-empty string")

    return Feed(
        name=name,
        kind=kind,
        path=path,
        topic=topic,
        options=options,
        start=_clip_time(table.get("start"), f"{here}.start"),
        end=_clip_time(table.get("end"), f"{here}.end"),
        stations=stations,
        stations_path=stations_path,
        time_shift=parse_time_shift(
            table.get("time_shift", "none"), f"{here}.time_shift"
        ),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario folder (or its ``manifest.toml``).

    Raises
    ------
    ConfigError
        The manifest is missing, not TOML, or a field is missing or wrong;
        the message names the field (``feeds[1].options.place_at``).
    """
    path = Path(path)
    manifest = path / MANIFEST if path.is_dir() else path
    folder = manifest.parent
    where = str(manifest)
    try:
        table = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scenario manifest {manifest} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not TOML: {exc}") from None

    unknown = set(table) - _TOP_KEYS - {"feeds"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    status = _need(table, "status", str, where)
    if status not in STATUSES:
        raise ConfigError(f"{where}: status = {status!r}, expected one of {STATUSES}")
    if "time_shift" not in table:
        raise ConfigError(f"{where}: time_shift is missing; write 'none' to keep times")
    feeds_table = table.get("feeds")
    if not isinstance(feeds_table, list) or not feeds_table:
        raise ConfigError(f"{where}: feeds is missing; expected [[feeds]] tables")
    feeds = [_feed(t, i, folder, where) for i, t in enumerate(feeds_table)]
    names = [feed.name for feed in feeds]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: feed names {names} are not unique")

    scenario = Scenario(
        name=_need(table, "name", str, where),
        description=_need(table, "description", str, where),
        status=status,
        region=table.get("region", "zhaoqing"),
        time_shift=parse_time_shift(table["time_shift"], f"{where}: time_shift"),
        rulesets=_check_rulesets(table.get("rulesets", {}), where),
        feeds=feeds,
        folder=folder,
    )
    if not isinstance(scenario.region, str) or not scenario.region:
        raise ConfigError(f"{where}: region = {scenario.region!r}, expected a name")
    logger.info(
        "scenario %s (%s): %d feeds, time shift %s",
        scenario.name,
        scenario.status,
        len(feeds),
        scenario.time_shift,
    )
    return scenario


def hazard_feeds() -> Any:
    """:mod:`pipeline.hazards.feeds`, imported when a fire or geological feed
    is checked or plays."""
    return importlib.import_module("pipeline.hazards.feeds")
