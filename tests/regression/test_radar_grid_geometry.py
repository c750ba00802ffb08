"""Radar frames no radar makes: huge shapes, tiny pixels, far offsets, 1-s steps.

The schema admits any positive pixel size, shape and step. A pixel of
5e-324 km made the pixel-mask arithmetic overflow (OverflowError in
``models.region``); a shape of 8192 x 8192 pixels with a stream of zeros to
fill it inflated 128 MiB before anything else was checked; a frame with a
1-s step after regular 10-min frames made the nowcast extrapolate 10,800
steps (236 MB traced, seconds of CPU).
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest

from connectors.radar_codec import (
    MAX_PIXELS,
    Grid,
    RadarFrame,
    decode_frame,
    encode_frame,
)
from schemas.errors import PhysicalError, SchemaError

GRID = Grid("g", 8, 8, 1.0, 1.0, -3.5, 3.5, "+proj=aeqd +lat_0=23.9 +lon_0=112.35")


def message() -> dict:
    frame = RadarFrame(
        "r", "test", datetime(2020, 10, 31, 5, tzinfo=UTC), 600, np.zeros((8, 8)), GRID
    )
    return encode_frame(frame, origin_lon=112.35, origin_lat=23.9, transposed=True)


@pytest.mark.parametrize("key", ["dx_km", "dy_km"])
@pytest.mark.parametrize("size", [5e-324, 1e-9, 1e6])
def test_a_pixel_no_radar_has_is_refused(key: str, size: float) -> None:
    msg = message()
    msg["grid"][key] = size
    with pytest.raises(PhysicalError, match=f"grid.{key}"):
        decode_frame(msg)


def test_an_offset_beyond_the_earth_is_refused() -> None:
    msg = message()
    msg["grid"]["x0_km"] = 1e308
    with pytest.raises(PhysicalError, match="x0_km"):
        decode_frame(msg)


def test_a_shape_beyond_the_limit_is_refused_before_inflating() -> None:
    msg = message()
    msg["grid"]["shape"] = [8192, 8192]
    assert 8192 * 8192 > MAX_PIXELS
    msg["data"] = base64.b64encode(zlib.compress(bytes(2 * 8192 * 8192), 9)).decode()
    with pytest.raises(SchemaError, match="67108864 pixels"):
        decode_frame(msg)


@pytest.mark.parametrize("step_s", [1, 59, 86_401, 2**62])
def test_a_step_no_radar_accumulates_over_is_refused(step_s: int) -> None:
    msg = message()
    msg["step_s"] = step_s
    with pytest.raises(PhysicalError, match="step_s"):
        decode_frame(msg)
