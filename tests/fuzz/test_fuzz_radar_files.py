"""Hostile radar files through the BoM and KNMI readers, as a replay reads them.

Each example takes a 64 x 64 window cut from a real sample file (BoM
Rainfields c10 and cscn NetCDF, KNMI HDF5; one file in twenty is the whole
real file), changes what a producer could get wrong (units, calibration,
coordinate spacing and order, time variables, the grid mapping, station
attributes, pixel values: NaN, infinite, negative, beyond any storm) with
the file format's own library, and then perhaps breaks its bytes: flipped,
truncated, cut to the header. The file is read by the reader the scenario
registers for its kind and encoded as a ``radar_frame/1`` message, as
:func:`connectors.feed_records._radar_records` does: a file either becomes a
valid message or is refused with an :class:`InputError` that names it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import netCDF4
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import radar_codec
from connectors.radar_bom import read_bom_frame
from connectors.radar_knmi import read_knmi_frame
from connectors.scenario import SAMPLES_DIR
from models.quality import Rejection
from pipeline.deadletter import from_rejection
from schemas import registry
from tests.fuzz.harness import (
    REFUSALS,
    TARGET_RECORDS,
    Tally,
    bounded_memory,
    check_reason,
    compact,
    fuzz_settings,
)
from tests.fuzz.hostile import Hostile, hostile
from tests.fuzz.radar_templates import cut_bom, cut_knmi

BATCH = 10
RADAR = SAMPLES_DIR / "radar"
C10 = sorted((RADAR / "bom_prcp-c10_66_20201031").glob("*.nc"))[60]
CSCN = sorted((RADAR / "bom_prcp-cscn_2_20180616").glob("*.nc"))[0]
KNMI = sorted((RADAR / "knmi_rad_nl25_rap_5min_20100826").glob("*.h5"))[-3]
# (file, row, column) of 64 x 64 windows with rain in them
BOM_CUTS = [(C10, 200, 200), (C10, 300, 100), (CSCN, 200, 200)]
KNMI_CUTS = [(KNMI, 200, 330), (KNMI, 400, 300)]
FULL_SIZE = 0.05  # share of files fuzzed at their real size
PLACE_AT = (112.35, 23.9)  # as the demo scenario places the Brisbane radar
# The two formats share the records of the radar-file kind.
RECORDS = -(-TARGET_RECORDS // 2)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NUMBERS = [np.nan, np.inf, -np.inf, -5.0, 1e30, 0.0, 1e308]


@pytest.fixture
def workdir() -> Iterator[Path]:
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as d:
        yield Path(d)


def edit_bom(h: Hostile, path: Path) -> None:
    """One to three edits of a Rainfields file, through netCDF4."""
    with netCDF4.Dataset(path, mode="r+") as ds:
        for _ in range(h.rng.randint(1, 3)):
            h.pick(BOM_EDITS)(h, ds)


def _bom_units(h: Hostile, ds: Any) -> None:
    name = h.pick(["precipitation", "x", "y", "valid_time", "start_time"])
    ds.variables[name].setncattr(
        "units", h.pick(["mm h-1", "", "degrees", "furlong", "hours since 1970-01-01"])
    )


def _bom_values(h: Hostile, ds: Any) -> None:
    var = ds.variables["precipitation"]
    var.set_auto_maskandscale(False)
    raw = var[:]
    raw.flat[h.rng.randrange(raw.size)] = h.pick([-32768, -1000, 32767])
    var[:] = raw


def _bom_float_values(h: Hostile, ds: Any) -> None:
    name = h.pick(["x", "y", "x_bounds", "y_bounds"])
    if name not in ds.variables:
        return
    var = ds.variables[name]
    data = np.array(var[:], dtype=np.float64)
    data.flat[h.rng.randrange(data.size)] = h.pick(NUMBERS)
    with np.errstate(over="ignore", invalid="ignore"):
        var[:] = data


def _bom_reverse(h: Hostile, ds: Any) -> None:
    name = h.pick(["x", "y"])
    var = ds.variables[name]
    var[:] = np.array(var[:])[::-1]


def _bom_time(h: Hostile, ds: Any) -> None:
    var = ds.variables[h.pick(["valid_time", "start_time"])]
    var[...] = h.pick([0, -1, 2**62, -(2**62), 1603900000, 10**15])


def _bom_attribute(h: Hostile, ds: Any) -> None:
    target = ds.variables[h.pick(["precipitation", "proj", "x"])]
    keys = [k for k in target.ncattrs() if k != "_FillValue"]
    if not keys:
        return
    key = h.pick(keys)
    if h.chance(0.3):
        target.delncattr(key)
    elif target.name == "proj" and h.chance(0.8):
        # PROJ takes most of a second to make a datum of numbers it has not
        # seen: mostly texts here, and few distinct numbers (they are cached)
        target.setncattr(key, h.pick(["", "x" * 5000, "nonsense"]))
    else:
        target.setncattr(key, h.pick(["", "x" * 5000, "nonsense", 1e308, -1]))


def _bom_global(h: Hostile, ds: Any) -> None:
    if h.chance(0.5) and "station_id" in ds.ncattrs():
        ds.delncattr("station_id")
    else:
        ds.setncattr("station_id", h.pick(["", " ", "\u202e", "x" * 5000, -1]))


BOM_EDITS: list[Callable[[Hostile, Any], None]] = [
    _bom_units,
    _bom_values,
    _bom_float_values,
    _bom_reverse,
    _bom_time,
    _bom_attribute,
    _bom_global,
]


def edit_knmi(h: Hostile, path: Path) -> None:
    """One to three edits of a KNMI file, through h5py."""
    with h5py.File(path, mode="r+") as h5:
        for _ in range(h.rng.randint(1, 3)):
            roll = h.rng.random()
            if roll < 0.25:
                data = h5["image1/image_data"]
                raw = data[()]
                raw.flat[h.rng.randrange(raw.size)] = h.pick([0, 1, 65534, 65535])
                data[...] = raw
            elif roll < 0.35:
                del h5["image1/image_data"]
                shape = h.pick([(0, 0), (5,), (765, 701), (1, 1)])
                h5["image1/image_data"] = np.zeros(shape, dtype=np.uint16)
            else:
                group = h5[h.pick(KNMI_GROUPS)]
                keys = list(group.attrs)
                if not keys:
                    continue
                key = h.pick(keys)
                if h.chance(0.2):
                    del group.attrs[key]
                else:
                    group.attrs[key] = h.pick(KNMI_VALUES)


KNMI_GROUPS = [
    "overview",
    "geographic",
    "geographic/map_projection",
    "image1",
    "image1/calibration",
]
KNMI_VALUES = [
    b"",
    b"GEO=-0.01*PV+0.0",
    b"GEO=1e308*PV+0.0",
    b"32-FOO-2010;25:61:00.000",
    b"26-AUG-2010;00:05:00.000",
    b"+proj=stere +a=nan",
    b"+proj=merc",
    np.array([np.nan], dtype=np.float32),
    np.array([np.inf], dtype=np.float32),
    np.array([-1.0, 0.0], dtype=np.float32),
    np.array([2**31 - 1], dtype=np.int32),
    np.zeros(8, dtype=np.float32),
    "x" * 5000,
]


def break_bytes(h: Hostile, data: bytes) -> bytes:
    """The file's bytes, perhaps flipped in places or cut short."""
    roll = h.rng.random()
    if roll < 0.5:
        return data
    out = bytearray(data)
    if roll < 0.8:
        for _ in range(h.rng.randint(1, 8)):
            out[h.rng.randrange(len(out))] = h.rng.randrange(256)
        return bytes(out)
    return bytes(out[: h.pick([0, 8, 512, 4096, h.rng.randrange(len(out))])])


def check_file(
    path: Path, read: Callable[[Path], Any], tally: Tally, placed: bool = True
) -> None:
    """Read ``path`` as a replay would; the outcome is a message or a refusal.

    ``placed`` lays the frame where a manifest's ``place_at`` says, as the
    demo does; otherwise at its native origin.
    """
    try:
        frame = read(path)
        if placed:
            lon, lat, transposed = *PLACE_AT, True
        else:
            lon, lat = radar_codec.native_origin_lonlat(frame.grid)
            transposed = False
        msg = radar_codec.encode_frame(
            frame, origin_lon=lon, origin_lat=lat, transposed=transposed
        )
    except REFUSALS as exc:
        # as the replay files it: a rejection named by the file, then a letter
        rejection = Rejection.from_error(str(path), exc)
        letter = from_rejection(rejection, feed="radar", topic="obs.radar", now=NOW)
        registry.encode(letter)
        assert str(exc).strip(), f"radar file {path.name}: empty reason"
        check_reason(letter["reason"], [path.name], f"radar file {path.name}")
        tally.refuse(exc.reason_class)
        return
    except Exception as exc:
        raise AssertionError(
            f"{type(exc).__name__} reading radar file {path.name}: {str(exc)[:300]}\n"
            f"bytes: {compact(path.read_bytes(), 64)}"
        ) from exc
    registry.encode(msg)
    tally.accept()


@pytest.mark.parametrize(
    ("kind", "cuts", "cut", "edit", "read"),
    [
        ("BoM Rainfields NetCDF", BOM_CUTS, cut_bom, edit_bom, read_bom_frame),
        ("KNMI HDF5", KNMI_CUTS, cut_knmi, edit_knmi, read_knmi_frame),
    ],
)
def test_hostile_radar_files_become_messages_or_refusals(
    workdir: Path,
    kind: str,
    cuts: list[tuple[Path, int, int]],
    cut: Callable,
    edit: Callable,
    read: Callable,
) -> None:
    tally = Tally(f"{kind} radar files")
    templates = [
        cut(src, workdir / f"cut{n}-{src.name}", row, col, 64)
        for n, (src, row, col) in enumerate(cuts)
    ]
    samples = [*templates, *sorted({src for src, _, _ in cuts})]
    originals = [p.read_bytes() for p in samples]
    for path in samples:  # libraries, projections, caches
        check_file(path, read, tally, placed=False)

    @fuzz_settings(BATCH, records=RECORDS)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        for n in range(count):
            index = h.rng.randrange(len(templates))
            if h.chance(FULL_SIZE):
                index = h.rng.randrange(len(templates), len(samples))
            path = workdir / f"{n}-{samples[index].name}"
            path.write_bytes(originals[index])
            if h.chance(0.6):
                try:
                    edit(h, path)
                except (OSError, KeyError, TypeError, ValueError):
                    pass  # the library would not write that; keep the file
            path.write_bytes(break_bytes(h, path.read_bytes()))
            check_file(path, read, tally, placed=h.chance(0.8))
            path.unlink()

    with bounded_memory(tally.kind):
        run()
    print(tally)
    tally.check_total(RECORDS)
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
