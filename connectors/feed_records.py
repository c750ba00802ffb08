"""The records of one scenario feed, by kind: what a replay publishes.

Each reader takes a :class:`connectors.scenario.Feed` and the list its
refused readings go to, and yields :class:`connectors.scenario.ReplayRecord`
in the feed's time order; :data:`FEED_READERS` maps each feed kind to its
reader. :meth:`connectors.scenario.Scenario.records` merges them, clips them
and shifts their times.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from connectors import gauge_usgs, rain_hko
from connectors.gauge_csv import DEFAULT_COLUMNS, read_gauge_csv
from connectors.scenario import (
    HAZARD_KINDS,
    RADAR_PATTERNS,
    RADAR_READERS,
    Feed,
    ReplayRecord,
    hazard_feeds,
)
from connectors.station import to_message
from models.quality import Rejection
from schemas.errors import ConfigError, InputError

logger = logging.getLogger(__name__)


def _radar_records(feed: Feed, rejected: list[Rejection]) -> Iterator[ReplayRecord]:
    # Imported here: the radar stack (netCDF4, h5py, pyproj) loads only when a
    # radar feed plays.
    from connectors import radar_codec

    module_name, function_name = RADAR_READERS[feed.kind]
    read = getattr(importlib.import_module(module_name), function_name)
    pattern = feed.options.get("pattern", RADAR_PATTERNS[feed.kind])
    files = sorted(feed.path.glob(pattern)) if feed.path.is_dir() else [feed.path]
    if not files:
        raise ConfigError(f"feed {feed.name}: no {pattern} files in {feed.path}")
    transposed = feed.options["transposed"]
    for path in files:
        try:
            frame = read(path)
            if "place_at" in feed.options:
                lon, lat = feed.options["place_at"]
            else:
                lon, lat = radar_codec.native_origin_lonlat(frame.grid)
            msg = radar_codec.encode_frame(
                frame, origin_lon=lon, origin_lat=lat, transposed=transposed
            )
        except InputError as exc:
            rejected.append(Rejection.from_error(str(path), exc))
            logger.warning("feed %s: %s refused: %s", feed.name, path.name, exc)
            continue
        time = datetime.fromisoformat(msg["valid_time"])
        yield ReplayRecord(time, feed.topic, msg["radar_id"].encode(), msg, feed.name)


def _gauge_records(feed: Feed, rejected: list[Rejection]) -> Iterator[ReplayRecord]:
    stations = feed.stations or {}
    source = feed.options.get("source")
    if feed.kind == "gauge_csv":
        read = read_gauge_csv(
            feed.path,
            stations,
            columns=feed.options.get("columns", DEFAULT_COLUMNS),
            station_ids=list(stations),
            time_format=feed.options.get("time_format"),
            unit=feed.options.get("unit"),
            source=source or "csv",
        )
    else:
        read = gauge_usgs.read_usgs_iv(
            feed.path,
            stations,
            parameter=feed.options.get("parameter", gauge_usgs.GAGE_HEIGHT),
            site_ids=list(stations),
            source=source or gauge_usgs.SOURCE,
        )
    rejected.extend(read.rejected)
    for obs in read.observations:
        key = obs.station.id.encode()
        yield ReplayRecord(obs.time, feed.topic, key, to_message(obs), feed.name)


def _rain_records(feed: Feed, rejected: list[Rejection]) -> Iterator[ReplayRecord]:
    stations = rain_hko.load_hko_stations(feed.stations_path or "")
    tally = rain_hko.RainTally()
    source = feed.options.get("source", rain_hko.SOURCE)
    points = rain_hko.iter_hko_rainfall(
        feed.path, stations, station_codes=feed.options.get("stations"), tally=tally
    )
    try:
        for point in points:
            msg = rain_hko.to_message(point, source=source)
            yield ReplayRecord(
                point.time, feed.topic, point.station.encode(), msg, feed.name
            )
    finally:
        rejected.extend(tally.rejected)
        for code, count in sorted(tally.missing.items()):
            rejected.append(
                Rejection(code, "missing", f"{feed.path.name}: {count} blank {code}")
            )


def _hazard_records(feed: Feed, rejected: list[Rejection]) -> Iterator[ReplayRecord]:
    return hazard_feeds().records(feed, rejected)  # type: ignore[no-any-return]


FeedReader = Callable[[Feed, list[Rejection]], Iterator[ReplayRecord]]
FEED_READERS: dict[str, FeedReader] = dict.fromkeys(RADAR_READERS, _radar_records)
FEED_READERS |= {"gauge_csv": _gauge_records, "gauge_usgs": _gauge_records}
FEED_READERS["rain_hko"] = _rain_records
FEED_READERS |= dict.fromkeys(HAZARD_KINDS, _hazard_records)
