"""Hostile ``radar_frame/1`` records through the radar agent's decode-and-reduce path.

Frames on a 64 x 64 grid of 1 km pixels laid over Zhaoqing, as the demo lays
the Brisbane radar, with pixel data that is no base64, a truncated or foreign
zlib stream, a stream that inflates to far more than its shape (a
decompression bomb) or that matches a declared shape of millions of pixels;
shapes that disagree with the data; pixel sizes and offsets at the ends of
the floats; origins at the poles and the date line; valid times repeated,
reversed, in the future or at the ends of the calendar; steps of a second
or of centuries; and records whose JSON or bytes are broken outright.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from connectors.radar_codec import Grid, RadarFrame, encode_frame
from tests.fuzz.harness import AgentPath, Tally, bounded_memory, fuzz_settings
from tests.fuzz.hostile import EDGE_TIMES, Hostile, hostile

BATCH = 25
START = datetime(2020, 10, 31, 5, 0, tzinfo=UTC)
# Where the grid origin is laid: the north-east of the prefecture, where the
# grid covers 8 towns with 16 pixels or more (few towns keep the run short).
ORIGIN = (112.6, 24.0)
GRID = Grid(
    id="fuzz-64x64-1km",
    ny=64,
    nx=64,
    dx_km=1.0,
    dy_km=1.0,
    x0_km=-31.5,
    y0_km=31.5,
    native_crs="+proj=aeqd +lat_0=24.0 +lon_0=112.6 +units=m +no_defs",
)
PEAK_BOUND_MB = 100.0
BOMBS = (1 << 26, 8192 * 8192 * 2)  # bytes of zeros behind the two bombs


def frame_message(rain_mm: np.ndarray, valid_time: datetime) -> dict[str, Any]:
    frame = RadarFrame(
        radar_id="fuzz-radar",
        source="fuzz",
        valid_time=valid_time,
        step_s=600,
        precip_mm=rain_mm.astype(np.float32),
        grid=GRID,
    )
    return encode_frame(
        frame, origin_lon=ORIGIN[0], origin_lat=ORIGIN[1], transposed=True
    )


def rain_field(h: Hostile) -> np.ndarray:
    shape = (GRID.ny, GRID.nx)
    kind = h.pick(["storm", "drizzle", "dry", "nodata", "max"])
    if kind == "storm":
        yy, xx = np.mgrid[0 : GRID.ny, 0 : GRID.nx]
        cy, cx = h.rng.uniform(0, GRID.ny), h.rng.uniform(0, GRID.nx)
        peak = h.rng.uniform(1.0, 60.0)
        return peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0)
    if kind == "drizzle":
        return np.full(shape, h.rng.uniform(0.0, 1.0))
    if kind == "dry":
        return np.zeros(shape)
    if kind == "nodata":
        return np.full(shape, np.nan)
    return np.full(shape, 655.34)


@functools.cache
def zeros_b64(n: int) -> str:
    """``n`` zero bytes, zlib-compressed and base64-encoded (made once)."""
    return base64.b64encode(zlib.compress(bytes(n), 9)).decode()


def hostile_data(h: Hostile, msg: dict[str, Any]) -> None:
    """Replace the pixel data (and perhaps the shape) with a hostile stream."""
    how = h.pick(["base64", "truncated", "foreign", "bomb", "big", "short"])
    if how == "base64":
        msg["data"] = "!!not base64!!" + msg["data"][:20]
    elif how == "truncated":
        raw = base64.b64decode(msg["data"])
        msg["data"] = base64.b64encode(raw[: len(raw) // 2]).decode()
    elif how == "foreign":
        msg["data"] = base64.b64encode(b"\x89HDF\r\n\x1a\n" * 8).decode()
    elif how == "bomb":
        # 64 MiB of zeros in about 64 kB: far more than a 64 x 64 shape holds
        msg["data"] = zeros_b64(BOMBS[0])
    elif how == "big":
        # a shape of 8192 x 8192 pixels that the stream really fills
        msg["grid"]["shape"] = [8192, 8192]
        msg["data"] = zeros_b64(BOMBS[1])
    else:
        msg["grid"]["shape"] = [GRID.ny, GRID.nx + 1]


def radar_record(h: Hostile, field: np.ndarray) -> bytes:
    """One record: mostly schema-valid and hostile in meaning, else broken."""
    roll = h.rng.random()
    t = START + timedelta(minutes=10 * h.rng.randint(-12, 12))
    if roll < 0.05:
        t = datetime.now(UTC) + timedelta(minutes=h.pick([6, 60 * 24 * 400]))
    msg = frame_message(field, t)
    if h.chance(0.3):
        return h.mutated_json(msg)
    if roll > 0.95:
        msg["valid_time"] = h.pick(EDGE_TIMES)
    grid = msg["grid"]
    if h.chance(0.15):
        msg["step_s"] = h.pick([1, 300, 3600, 86_400 * 400, 2**62])
    if h.chance(0.15):
        key = h.pick(["dx_km", "dy_km", "x0_km", "y0_km"])
        grid[key] = h.pick([5e-324, 1e-9, 0.001, 1e308, -1e308, 40_000.0])
    if h.chance(0.05):
        grid["origin_lon"] = h.pick([180.0, -180.0, 0.0, ORIGIN[0]])
        grid["origin_lat"] = h.pick([90.0, -90.0, 0.0, ORIGIN[1]])
    if h.chance(0.05):
        grid["projection"] = h.pick(["+proj=nonsense", "aeqd", "\u202e"])
        grid["transposed"] = h.chance(0.5)
    if h.chance(0.25):
        hostile_data(h, msg)
    return json.dumps(msg, allow_nan=True).encode()


def warm_up(path: AgentPath) -> None:
    """Frames that make the agent place the grid and run a nowcast once.

    The nowcast loads its libraries on first use: that is start-up, not
    growth under hostile input.
    """
    yy, xx = np.mgrid[0 : GRID.ny, 0 : GRID.nx]
    for step in range(4):
        storm = 30.0 * np.exp(-((yy - 32) ** 2 + (xx - 20 - 2 * step) ** 2) / 80.0)
        t = START - timedelta(minutes=10 * (4 - step))
        outputs, letter = path.feed(
            "obs.radar", json.dumps(frame_message(storm, t)).encode()
        )
        assert letter is None and outputs


def test_hostile_radar_frames_are_reduced_or_dead_lettered() -> None:
    path = AgentPath()
    tally = Tally("radar_frame/1 records on obs.radar")
    warm_up(path)
    for size in BOMBS:  # made before tracing: the test's own inputs, not growth
        zeros_b64(size)

    @fuzz_settings(BATCH)
    @given(hostile, st.integers(BATCH, BATCH + BATCH // 4))
    def run(h: Hostile, count: int) -> None:
        field = rain_field(h)
        for _ in range(count):
            outputs, letter = path.feed("obs.radar", radar_record(h, field))
            if letter is None:
                tally.accept()
            else:
                tally.refuse(letter["reason_class"])

    with bounded_memory(tally.kind) as memory:
        run()
    print(tally)
    tally.check_total()
    assert tally.accepted > 0 and sum(tally.refused.values()) > 0
    assert memory.peak_mb < PEAK_BOUND_MB, f"peak {memory.peak_mb:.0f} MB"
