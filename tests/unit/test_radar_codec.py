"""The radar_frame/1 codec: round trip, size, and refusal of bad messages."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from connectors.radar_bom import read_bom_frame
from connectors.radar_codec import (
    Grid,
    RadarFrame,
    decode_frame,
    encode_frame,
    native_origin_lonlat,
)
from connectors.radar_knmi import read_knmi_frame
from schemas import registry
from schemas.errors import ParseError, PhysicalError, SchemaError, UnitError

SAMPLES = Path(__file__).resolve().parents[2] / "data/samples/radar"
BRISBANE = SAMPLES / "bom_prcp-c10_66_20201031"
MIB = 1024 * 1024


def wettest_brisbane_frame() -> RadarFrame:
    """The frame with the most rain over the domain (summed over all pixels)."""
    best, best_total = None, -1.0
    for path in sorted(BRISBANE.glob("*.nc")):
        frame = read_bom_frame(path)
        total = float(np.nansum(frame.precip_mm))
        if total > best_total:
            best, best_total = frame, total
    assert best is not None
    return best


def small_frame(values: np.ndarray) -> RadarFrame:
    ny, nx = values.shape
    grid = Grid(
        "test-grid",
        ny,
        nx,
        1.0,
        1.0,
        -(nx - 1) / 2,
        (ny - 1) / 2,
        "+proj=aeqd +lat_0=23.6 +lon_0=112.1 +datum=WGS84 +units=m",
    )
    return RadarFrame(
        "test",
        "test/source",
        datetime(2024, 6, 1, 3, 0, tzinfo=UTC),
        300,
        values.astype(np.float32),
        grid,
    )


def test_wettest_brisbane_frame_round_trip_and_size() -> None:
    frame = wettest_brisbane_frame()
    assert frame.valid_time == datetime(2020, 10, 31, 5, 50, tzinfo=UTC)
    msg = encode_frame(frame, origin_lon=112.1, origin_lat=23.6, transposed=True)
    text = json.dumps(msg)
    # 512 x 512 values, 43 % of them wet, well under Kafka's 1 MiB default.
    assert len(text.encode()) < MIB / 4

    placed = decode_frame(json.loads(text))
    back = placed.frame
    assert np.array_equal(np.isnan(back.precip_mm), np.isnan(frame.precip_mm))
    valid = ~np.isnan(frame.precip_mm)
    error = np.abs(back.precip_mm[valid].astype(np.float64) - frame.precip_mm[valid])
    assert error.max() <= 0.005 + 1e-6
    assert back.grid == frame.grid
    assert back.valid_time == frame.valid_time and back.step_s == 600
    assert (placed.origin_lon, placed.origin_lat) == (112.1, 23.6)
    assert placed.projection == "aeqd" and placed.transposed


def test_knmi_frame_keeps_its_missing_area() -> None:
    path = SAMPLES / "knmi_rad_nl25_rap_5min_20100826/RAD_NL25_RAP_5min_201008260100.h5"
    frame = read_knmi_frame(path)
    lon, lat = native_origin_lonlat(frame.grid)
    placed = decode_frame(
        encode_frame(frame, origin_lon=lon, origin_lat=lat, transposed=False)
    )
    assert np.array_equal(np.isnan(placed.frame.precip_mm), np.isnan(frame.precip_mm))
    assert placed.projection == frame.grid.native_crs and not placed.transposed


def test_message_matches_the_architecture() -> None:
    frame = small_frame(np.array([[0.0, 1.234], [np.nan, 655.34]]))
    msg = encode_frame(frame, origin_lon=112.1, origin_lat=23.6, transposed=True)
    assert registry.validate(msg) == "radar_frame/1"
    assert msg["valid_time"] == "2024-06-01T03:00:00Z"
    assert (msg["units"], msg["quantum_mm"], msg["nodata"]) == ("mm", 0.01, 65535)
    assert msg["encoding"] == "zlib+uint16-le"
    assert msg["grid"]["shape"] == [2, 2]
    raw = zlib.decompress(base64.b64decode(msg["data"]))
    # round(1.234 / 0.01) = 123; 655.34 mm is the largest value, 65534 quanta.
    assert np.frombuffer(raw, "<u2").tolist() == [0, 123, 65535, 65534]


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
        elements=st.one_of(
            st.floats(0.0, 655.34, allow_nan=False), st.just(float("nan"))
        ),
    )
)
def test_round_trip_within_half_a_quantum(values: np.ndarray) -> None:
    frame = small_frame(values)
    back = decode_frame(
        encode_frame(frame, origin_lon=0, origin_lat=0, transposed=False)
    ).frame
    assert np.array_equal(np.isnan(back.precip_mm), np.isnan(frame.precip_mm))
    ok = ~np.isnan(frame.precip_mm)
    diff = np.abs(back.precip_mm[ok].astype(np.float64) - frame.precip_mm[ok])
    assert diff.size == 0 or diff.max() <= 0.005 + 1e-4


def test_too_much_rain_for_the_quantum_is_refused() -> None:
    frame = small_frame(np.array([[0.0, 655.4]]))
    with pytest.raises(PhysicalError, match="655.40 mm"):
        encode_frame(frame, origin_lon=0, origin_lat=0, transposed=False)


def test_negative_rain_is_refused() -> None:
    frame = small_frame(np.array([[0.0, -0.2]]))
    with pytest.raises(PhysicalError, match="negative"):
        encode_frame(frame, origin_lon=0, origin_lat=0, transposed=False)


@pytest.fixture
def message() -> dict:
    frame = small_frame(np.arange(12, dtype=np.float64).reshape(3, 4) / 4)
    return encode_frame(frame, origin_lon=112.1, origin_lat=23.6, transposed=True)


def test_bad_base64_is_a_parse_error(message: dict) -> None:
    message["data"] = "!!!not base64!!!"
    with pytest.raises(ParseError, match="not base64"):
        decode_frame(message)


def test_not_zlib_is_a_parse_error(message: dict) -> None:
    message["data"] = base64.b64encode(b"\x00" * 24).decode()
    with pytest.raises(ParseError, match="zlib"):
        decode_frame(message)


def test_truncated_zlib_is_a_parse_error(message: dict) -> None:
    payload = base64.b64decode(message["data"])
    message["data"] = base64.b64encode(payload[:-6]).decode()
    with pytest.raises(ParseError, match="truncated"):
        decode_frame(message)


def test_wrong_length_is_a_schema_error(message: dict) -> None:
    message["data"] = base64.b64encode(zlib.compress(b"\x00\x00" * 11)).decode()
    with pytest.raises(SchemaError, match="holds 22 bytes, expected 24"):
        decode_frame(message)


def test_longer_data_than_the_shape_is_a_schema_error(message: dict) -> None:
    message["data"] = base64.b64encode(zlib.compress(b"\x00\x00" * 5000)).decode()
    with pytest.raises(SchemaError, match="more than 24"):
        decode_frame(message)


@pytest.mark.parametrize("shape", [[3], [0, 4], [3, 4, 1], ["3", 4]])
def test_bad_shape_is_a_schema_error(message: dict, shape: list) -> None:
    message["grid"]["shape"] = shape
    with pytest.raises(SchemaError):
        decode_frame(message)


def test_other_units_are_a_unit_error(message: dict) -> None:
    message["units"] = "mm/h"
    with pytest.raises(UnitError, match="'mm/h'"):
        decode_frame(message)


def test_frame_refuses_a_naive_time_and_a_wrong_shape() -> None:
    frame = small_frame(np.zeros((2, 3)))
    with pytest.raises(SchemaError, match="time zone"):
        replace(frame, valid_time=datetime(2024, 6, 1, 3, 0))
    with pytest.raises(SchemaError, match="does not match grid"):
        replace(frame, precip_mm=np.zeros((3, 2), dtype=np.float32))
