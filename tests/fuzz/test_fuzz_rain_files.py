"""Hostile rain, fire-weather and earthquake files through their readers.

- HKO wide CSV (``connectors.rain_hko``): every cell is a record. Real
  station columns and columns nobody declared; cells NaN, ``1e999``,
  negative, text, more rain than has ever fallen in an hour; observation
  times without offsets, repeated, reversed or impossible; short rows.
- Fire-weather station CSV (``connectors.fire_csv``): every row is a record,
  with humidity above 100 %, negative wind, temperatures of 1e308, dates of
  30 February, blank stations, and headers that name a unit the reader
  does not take.
- USGS earthquake GeoJSON (``connectors.usgs_quake``): every feature is a
  record, with positions off the globe, depths of a million km, magnitudes
  of NaN, times past year 9999, geometries that are not points and
  features that are not objects.
- USGS THRESH hourly rain (``connectors.usgs_rain``): every line is a
  record; a file is read whole or refused at its first bad line.

Every record is accounted for: kept, refused with a rejection that names
its file and place, or in a file refused as a whole with an
:class:`InputError` that names the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import rain_hko
from connectors.fire_csv import COLUMNS, RAIN_COLUMN, WRONG_UNITS, read_fire_csv
from connectors.scenario import SAMPLES_DIR
from connectors.usgs_quake import parse_feed
from connectors.usgs_rain import read_thresh_hourly
from schemas.errors import ConfigError
from tests.fuzz.harness import (
    REFUSALS,
    Tally,
    bounded_memory,
    check_reason,
    compact,
    fuzz_settings,
)
from tests.fuzz.hostile import (
    EDGE_TIMES,
    OFFSETS_MIN,
    Hostile,
    hostile,
    iso_with_offset,
)

BATCH = 4  # files per example
HKO_STATIONS = SAMPLES_DIR / "rain" / "hko_rf_stations.csv"
QUAKE_FILE = SAMPLES_DIR / "geology" / "usgs_quake" / "all_day.geojson"


@pytest.fixture
def workdir() -> Iterator[Path]:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as d:
        yield Path(d)


def rain_cell(h: Hostile) -> str:
    roll = h.rng.random()
    if roll < 0.6:
        return str(h.rng.randint(0, 60))
    if roll < 0.7:
        return ""
    if roll < 0.8:
        return h.pick(["500", "-1", "1e6", "abc", " 3 "])
    return h.number_text()


def hko_file(h: Hostile, codes: list[str]) -> tuple[str, int, list[str]]:
    """Wide CSV text, its count of data rows, and its station columns."""
    columns = [h.pick(codes) for _ in range(h.rng.randint(3, 8))]
    columns = list(dict.fromkeys(columns))
    if h.chance(0.2):
        columns.append(h.pick(["RF999", "nobody", "K99"]))
    start = datetime.fromisoformat("2025-06-20T10:45:00+08:00")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([rain_hko.TIME_COLUMN, *columns])
    rows = h.rng.randint(5, 20)
    for _ in range(rows):
        t = start + timedelta(minutes=15 * h.rng.randint(-20, 20))
        stamp = iso_with_offset(t, h.pick(OFFSETS_MIN))
        if h.chance(0.1):
            stamp = h.pick(EDGE_TIMES) or "?"
        cells = [rain_cell(h) for _ in columns]
        if h.chance(0.05):
            cells = cells[: h.rng.randrange(len(cells))]
        writer.writerow([stamp, *cells])
    return out.getvalue(), rows, columns


def test_hostile_hko_rainfall_is_read_or_refused(workdir: Path) -> None:
    stations = rain_hko.load_hko_stations(HKO_STATIONS)
    codes = sorted(stations)
    tally = Tally("HKO rainfall cells")

    @fuzz_settings(BATCH * 40)
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            text, rows, columns = hko_file(h, codes)
            raw = text.encode("utf-8")
            broken = h.chance(0.1)
            if broken:
                raw = raw[: len(raw) // 2] + h.pick([b"\x00", b"\xff", b'"'])
            path = workdir / f"hko-{n}.csv"
            path.write_bytes(raw)
            cells = rows * len(columns)
            tally_read = rain_hko.RainTally()
            try:
                points = list(
                    rain_hko.iter_hko_rainfall(path, stations, tally=tally_read)
                )
                messages = [rain_hko.to_message(p) for p in points]
            except REFUSALS as exc:
                check_reason(str(exc), [str(path)], f"file {path.name}")
                tally.refuse(exc.reason_class, cells)
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {path.name}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            assert len(messages) == tally_read.points
            for r in tally_read.rejected:
                check_reason(r.reason, [path.name], f"rejection at {r.where}")
            for p in points:
                assert math.isfinite(p.rain_mm) and p.rain_mm >= 0
            tally.accept(len(points))
            tally.refuse("missing", sum(tally_read.missing.values()))
            for r in tally_read.rejected:
                tally.refuse(r.reason_class)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


def fire_row(h: Hostile, day: date) -> dict[str, str]:
    row = {
        "date": day.isoformat(),
        "station": "VW85",
        "lon": "-100",
        "lat": "40",
        "county": "cffdrs-test",
        "temp_c": f"{h.rng.uniform(-10, 40):.1f}",
        "rh_pct": f"{h.rng.uniform(5, 100):.0f}",
        "wind_kmh": f"{h.rng.uniform(0, 60):.0f}",
        "rain_mm": f"{h.rng.uniform(0, 30):.1f}",
    }
    for _ in range(h.rng.randrange(3)):
        key = h.pick(list(row))
        row[key] = h.pick(
            ["", "101", "-5", "1e308", "nan", "2023-02-30", " ", "abc", h.number_text()]
        )
    return row


def test_hostile_fire_weather_csv_is_read_or_refused(workdir: Path) -> None:
    tally = Tally("fire-weather CSV rows")
    header = [*COLUMNS, RAIN_COLUMN]

    @fuzz_settings(BATCH * 20)  # 25 rows a file on average, 10 at least
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            names = list(header)
            if h.chance(0.1):
                names[h.rng.randrange(len(names))] = h.pick(list(WRONG_UNITS))
            rows = [
                fire_row(h, date(2023, 7, 1) + timedelta(days=h.rng.randint(-5, 30)))
                for _ in range(h.rng.randint(10, 40))
            ]
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(names)
            writer.writerows([[r.get(c, "") for c in header] for r in rows])
            raw = out.getvalue().encode("utf-8")
            path = workdir / f"fire-{n}.csv"
            path.write_bytes(raw)
            try:
                read = read_fire_csv(path)
            except REFUSALS as exc:
                check_reason(str(exc), [str(path)], f"file {path.name}")
                tally.refuse(exc.reason_class, len(rows))
                continue
            except ConfigError as exc:
                # documented: a header without a required column
                assert names != header and str(path) in str(exc), exc
                tally.refuse("config", len(rows))
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {path.name}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            assert len(read.observations) + len(read.rejected) == len(rows)
            for r in read.rejected:
                check_reason(r.reason, [path.name], f"rejection at {r.where}")
            for obs in read.observations:
                assert 0 <= obs.rh_pct <= 100 and obs.wind_kmh >= 0
                assert math.isfinite(obs.temp_c) and obs.rain_mm >= 0
            tally.accept(len(read.observations))
            for r in read.rejected:
                tally.refuse(r.reason_class)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


@pytest.fixture(scope="module")
def quake_feed() -> dict[str, Any]:
    return json.loads(QUAKE_FILE.read_text(encoding="utf-8"))


def quake_document(h: Hostile, base: dict[str, Any]) -> dict[str, Any]:
    features = []
    for _ in range(h.rng.randint(10, 40)):
        feature = json.loads(json.dumps(h.pick(base["features"])))
        roll = h.rng.random()
        if roll < 0.1:
            feature = h.value()
        elif roll < 0.2:
            feature["geometry"] = h.pick(
                [None, {"type": "Polygon"}, {"type": "Point", "coordinates": 5}]
            )
        elif roll < 0.5:
            coords = feature["geometry"]["coordinates"]
            coords[h.rng.randrange(3)] = h.pick(
                [200.0, -91.0, 1e6, None, "x", [], 1e308, -1e308]
            )
        elif roll < 0.7:
            key = h.pick(["mag", "time", "updated", "type", "place", "status"])
            feature["properties"][key] = h.value()
        elif roll < 0.75:
            feature["properties"] = h.pick([[], None, "p", 3])
        features.append(feature)
    meta = dict(base["metadata"], count=len(features))
    if h.chance(0.1):
        meta[h.pick(["generated", "count"])] = h.value()
    if h.chance(0.05):
        meta = h.value()
    return {"type": "FeatureCollection", "metadata": meta, "features": features}


def test_hostile_quake_feeds_are_read_or_refused(quake_feed) -> None:
    tally = Tally("USGS earthquake features")

    @fuzz_settings(BATCH * 25)
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            document = quake_document(h, quake_feed)
            raw = json.dumps(document, allow_nan=True).encode()
            if h.chance(0.1):
                raw = h.garbled(raw)
            source = f"quake-{n}.geojson"
            features = len(document["features"])
            try:
                feed = parse_feed(raw, source)
            except REFUSALS as exc:
                check_reason(str(exc), [source], source)
                tally.refuse(exc.reason_class, features)
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {source}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            assert len(feed.events) + len(feed.rejected) == features
            for r in feed.rejected:
                check_reason(r.reason, [source], f"rejection at {r.where}")
            for event in feed.events:
                assert -180 <= event.lon <= 180 and -90 <= event.lat <= 90
                assert event.magnitude is None or math.isfinite(event.magnitude)
            tally.accept(len(feed.events))
            for r in feed.rejected:
                tally.refuse(r.reason_class)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


def thresh_lines(h: Hostile) -> list[str]:
    start = datetime(2010, 7, 24, 0)
    lines = []
    for k in range(h.rng.randint(20, 60)):
        t = start + timedelta(hours=k)
        amount = h.pick(["000", "012", "-01", "999"])
        line = f"02{t:%Y%m%d%H}{amount}"
        if h.chance(0.01):
            line = h.pick(
                [line[:-1], line + "0", "03" + line[2:], "0220100230" + line[10:]]
            )
        elif h.chance(0.01):
            line = f"02{start - timedelta(hours=1):%Y%m%d%H}000"  # back in time
        lines.append(line)
    return lines


def test_hostile_thresh_rain_is_read_or_refused(workdir: Path) -> None:
    tally = Tally("THRESH hourly rain lines")

    @fuzz_settings(BATCH * 40)
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            lines = thresh_lines(h)
            raw = ("\n".join(lines) + "\n").encode("ascii")
            if h.chance(0.05):
                raw = raw[:20] + b"\xe9" + raw[20:]
            path = workdir / f"thresh-{n}.txt"
            path.write_bytes(raw)
            try:
                series = read_thresh_hourly(path)
            except REFUSALS as exc:
                check_reason(str(exc), [path.name], f"file {path.name}")
                tally.refuse(exc.reason_class, len(lines))
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {path.name}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            assert len(series.times) + series.no_data_h == len(lines)
            assert all(
                b > a for a, b in zip(series.times[:-1], series.times[1:], strict=True)
            )
            tally.accept(len(series.times))
            tally.refuse("missing", series.no_data_h)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
