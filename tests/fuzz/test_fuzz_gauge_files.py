"""Hostile gauge files through the USGS WaterML-JSON and the CSV readers.

WaterML-JSON: responses built from the real Pearl River series headers with
readings whose values are NaN, ``1e999``, text, the no-data marker or a
jump of metres; times without offsets, in odd zones, repeated, reversed or
impossible; sites nobody declared, units other than the station's, no-data
markers that are not numbers, and structures broken at any level (a list
where an object belongs, a series without its header, the document cut
short).

CSV: Miho River Bridge series with the same hostile readings in cells, and
with rows too short or too long, quoted newlines, NUL bytes, a byte-order
mark, Latin-1 bytes and unknown stations.

Every reading of a file is accounted for: kept as an observation, refused
with a rejection that names its file and place, or part of a file (or of a
series) refused as a whole with an :class:`InputError` naming the file.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.gauge_csv import DEFAULT_COLUMNS, read_gauge_csv
from connectors.gauge_usgs import read_usgs_iv
from connectors.scenario import SAMPLES_DIR
from connectors.station import GaugeRead, load_stations
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

GAUGE = SAMPLES_DIR / "gauge"
USGS_FILE = GAUGE / "usgs_iv_02489500_02492000_2019-02-25_03-01.json"
MIHO_FILE = GAUGE / "miho_3011665_2023-07.csv"
BATCH = 3  # files per example; each holds tens of readings


@pytest.fixture(scope="module")
def stations() -> dict[str, Any]:
    found = load_stations(GAUGE / "stations.toml")
    found["3011665"] = found["3011665"].with_area_codes(["441202001"])
    return found


@pytest.fixture
def workdir() -> Iterator[Path]:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as d:
        yield Path(d)


@pytest.fixture(scope="module")
def usgs_series() -> list[dict[str, Any]]:
    """The stage series of the real response, each with its readings."""
    document = json.loads(USGS_FILE.read_text(encoding="utf-8"))
    return [
        s
        for s in document["value"]["timeSeries"]
        if s["variable"]["variableCode"][0]["value"] == "00065"
    ]


def reading_value(h: Hostile, typical: float) -> Any:
    roll = h.rng.random()
    if roll < 0.65:
        return f"{typical + h.rng.uniform(-2.0, 2.0):.2f}"
    if roll < 0.75:
        return f"{typical + h.pick([30.0, -30.0, 1e6]):.2f}"
    if roll < 0.85:
        return h.number_text()
    if roll < 0.9:
        return "-999999.0"  # the series' no-data marker
    return h.value()


def usgs_document(h: Hostile, series: list[dict[str, Any]]) -> dict[str, Any]:
    """A response of 1-3 stage series with 10-40 hostile readings each."""
    out = []
    for n in range(h.rng.randint(1, 3)):
        s = copy.deepcopy(h.pick(series))
        s["name"] = f"S{n}"
        start = datetime.fromisoformat(s["values"][0]["value"][0]["dateTime"])
        readings = []
        for _ in range(h.rng.randint(10, 40)):
            t = start + timedelta(minutes=15 * h.rng.randint(0, 60))
            stamp = (
                h.pick(EDGE_TIMES)
                if h.chance(0.1)
                else iso_with_offset(t, h.pick(OFFSETS_MIN))
            )
            readings.append(
                {
                    "value": reading_value(h, 15.0),
                    "qualifiers": ["P"],
                    "dateTime": stamp,
                }
            )
        s["values"] = [{"value": readings}]
        if h.chance(0.1):
            s["sourceInfo"]["siteCode"][0]["value"] = h.pick(["99999999", "", "0"])
        if h.chance(0.1):
            s["variable"]["unit"]["unitCode"] = h.pick(["m", "furlong", "", "FT"])
        if h.chance(0.1):
            s["variable"]["noDataValue"] = h.pick(["none", None, [], 1e308, "NaN"])
        out.append(s)
    return {"value": {"timeSeries": out}}


def count_readings(document: Any) -> int:
    try:
        return sum(
            len(block["value"])
            for s in document["value"]["timeSeries"]
            for block in s["values"]
        )
    except (KeyError, TypeError):
        return 1


def check_usgs_read(read: GaugeRead, document: dict, path: Path) -> None:
    """Every stage reading is kept, refused, or in a series refused whole."""
    names = {f"{path.name} {s['name']}": s for s in document["value"]["timeSeries"]}
    whole = [r for r in read.rejected if r.where in names]
    expected = sum(len(names[where]["values"][0]["value"]) for where in names) - sum(
        len(names[r.where]["values"][0]["value"]) for r in whole
    )
    single = len(read.rejected) - len(whole)
    assert len(read.observations) + single == expected, (
        f"{path.name}: {expected} readings, {len(read.observations)} kept and "
        f"{single} refused"
    )
    for r in read.rejected:
        check_reason(r.reason, [path.name], f"rejection at {r.where}")
        assert r.where.startswith(path.name)
    for obs in read.observations:
        assert math.isfinite(obs.stage) and obs.time.utcoffset() is not None


def test_hostile_waterml_json_is_read_or_refused(
    workdir: Path, stations, usgs_series
) -> None:
    tally = Tally("WaterML-JSON readings")

    @fuzz_settings(110)  # readings an example holds, at least on average
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            document = usgs_document(h, usgs_series)
            broken = h.chance(0.25)
            raw = json.dumps(document, allow_nan=True).encode()
            if broken:
                raw = h.garbled(h.mutated_json(document))
            path = workdir / f"iv-{n}.json"
            path.write_bytes(raw)
            readings = count_readings(document)
            try:
                read = read_usgs_iv(path, stations)
            except REFUSALS as exc:
                check_reason(str(exc), [str(path)], f"file {path.name}")
                tally.refuse(exc.reason_class, readings)
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {path.name}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            if not broken:
                check_usgs_read(read, document, path)
            tally.accept(len(read.observations))
            for r in read.rejected:
                tally.refuse(r.reason_class)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0


def csv_rows(h: Hostile) -> list[list[str]]:
    """20-60 rows of the Miho layout with hostile cells and shapes."""
    start = datetime.fromisoformat("2023-07-15T00:00:00")
    rows = []
    for _ in range(h.rng.randint(20, 60)):
        t = start + timedelta(minutes=10 * h.rng.randint(0, 100))
        stamp = t.strftime("%Y-%m-%d %H:%M")
        if h.chance(0.1):
            stamp = h.pick(EDGE_TIMES)
        elif h.chance(0.1):
            stamp = iso_with_offset(t.astimezone(), h.pick(OFFSETS_MIN))
        station = "3011665" if h.chance(0.85) else h.pick(["nobody", "", "3011665 "])
        stage = f"{h.rng.uniform(0.5, 9.0):.2f}"
        if h.chance(0.2):
            stage = h.pick(["", " ", h.number_text(), "9.99e3", "abc"])
        row = [stamp, station, stage]
        if h.chance(0.05):
            row = row[: h.rng.randint(1, 2)]  # (a blank line is no row in CSV)
        elif h.chance(0.05):
            row += ["extra", "cells"]
        rows.append(row)
    return rows


def csv_bytes(h: Hostile, rows: list[list[str]]) -> tuple[bytes, bool]:
    """The file's bytes, and whether they were broken past the cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp_kst", "station_id", "wl"])
    writer.writerows(rows)
    raw = out.getvalue().encode("utf-8")
    roll = h.rng.random()
    if roll < 0.75:
        return raw, False
    fault = h.pick(
        [b"\x00", b'"unterminated\n', b"\xe9\xff", b"\xef\xbb\xbf", b'a,"b\nc",d\n']
    )
    at = raw.index(b"\n") + 1 + h.rng.randrange(max(1, len(raw) // 2))
    if fault == b"\xef\xbb\xbf":
        return fault + raw, True
    return raw[:at] + fault + raw[at:], True


def test_hostile_gauge_csv_is_read_or_refused(workdir: Path, stations) -> None:
    tally = Tally("gauge CSV rows")

    @fuzz_settings(110)  # rows an example holds, at least on average
    @given(hostile, st.integers(BATCH, BATCH + 1))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            rows = csv_rows(h)
            raw, broken = csv_bytes(h, rows)
            path = workdir / f"gauge-{n}.csv"
            path.write_bytes(raw)
            try:
                read = read_gauge_csv(path, stations, columns=DEFAULT_COLUMNS, unit="m")
            except REFUSALS as exc:
                check_reason(str(exc), [str(path)], f"file {path.name}")
                tally.refuse(exc.reason_class, len(rows))
                continue
            except Exception as exc:
                raise AssertionError(
                    f"{type(exc).__name__} reading {path.name}: {str(exc)[:300]}\n"
                    f"bytes: {compact(raw)}"
                ) from exc
            if not broken:
                assert len(read.observations) + len(read.rejected) == len(rows), (
                    f"{path.name}: {len(rows)} rows, {len(read.observations)} kept, "
                    f"{len(read.rejected)} refused"
                )
            for r in read.rejected:
                check_reason(r.reason, [path.name], f"rejection at {r.where}")
            tally.accept(len(read.observations))
            for r in read.rejected:
                tally.refuse(r.reason_class)

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
