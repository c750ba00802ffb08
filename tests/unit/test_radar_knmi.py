"""KNMI HDF5 reader on the real 2010-08-26 Netherlands composite.

The 1-h maximum is computed here from the raw counts with h5py (0.01 mm per
count, 65535 missing) and checked against the 7.0 mm measured when the
samples were collected (data/samples/radar/SOURCES.md). Geolocation is
checked against the corner longitudes and latitudes the files state.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pyproj
import pytest

from connectors.radar_codec import native_origin_lonlat
from connectors.radar_knmi import read_knmi_frame, read_knmi_frames
from schemas.errors import ParseError, PhysicalError, SchemaError, UnitError

FOLDER = Path(__file__).resolve().parents[2] / "data/samples/radar"
FILES = sorted((FOLDER / "knmi_rad_nl25_rap_5min_20100826").glob("*.h5"))


def test_sample_set_is_complete() -> None:
    assert len(FILES) == 92


def test_frame_times_and_grid() -> None:
    frame = read_knmi_frame(FILES[12])
    assert FILES[12].name == "RAD_NL25_RAP_5min_201008260100.h5"
    assert frame.valid_time == datetime(2010, 8, 26, 1, 0, tzinfo=UTC)
    assert frame.step_s == 300
    g = frame.grid
    assert (g.ny, g.nx, g.dx_km, g.dy_km) == (765, 700, 1.0, 1.0)
    # Centre of pixel [0, 0] relative to the grid centre: 349.5 km west,
    # 382 km north (700 and 765 pixels of 1 km).
    assert (g.x0_km, g.y0_km) == (-349.5, 382.0)
    assert "+proj=stere" in g.native_crs and "+lat_ts=60.0" in g.native_crs


def test_corners_land_where_the_file_says() -> None:
    g = read_knmi_frame(FILES[0]).grid
    to_geo = pyproj.Transformer.from_crs(g.native_crs, "EPSG:4326", always_xy=True)
    half_w, half_h = g.nx * g.dx_km / 2, g.ny * g.dy_km / 2
    corners_km = [
        (-half_w, -half_h),
        (-half_w, half_h),
        (half_w, half_h),
        (half_w, -half_h),
    ]
    stated = [(0.0, 49.362), (0.0, 55.974), (10.856, 55.389), (9.009, 48.895)]
    geod = pyproj.Geod(ellps="WGS84")
    for (x, y), (lon, lat) in zip(corners_km, stated, strict=True):
        got_lon, got_lat = to_geo.transform(x * 1000, y * 1000)
        _, _, metres = geod.inv(got_lon, got_lat, lon, lat)
        assert metres < 500
    lon, lat = native_origin_lonlat(g)
    assert 4.0 < lon < 6.0 and 52.0 < lat < 53.0


def test_values_are_counts_times_a_hundredth() -> None:
    frame = read_knmi_frame(FILES[12])
    with h5py.File(FILES[12]) as h5:
        raw = h5["image1/image_data"][:]
    missing = raw == 65535
    assert np.array_equal(np.isnan(frame.precip_mm), missing)
    assert 0.7 < missing.mean() < 0.78
    np.testing.assert_allclose(
        frame.precip_mm[~missing], raw[~missing] * 0.01, atol=1e-6
    )


def test_largest_one_hour_total() -> None:
    stack = []
    for path in FILES:
        with h5py.File(path) as h5:
            raw = h5["image1/image_data"][:].astype(np.float64)
        stack.append(np.where(raw == 65535, 0.0, raw * 0.01))
    raw_sum = np.cumsum(np.stack(stack), axis=0)
    independent = max(raw_sum[11].max(), (raw_sum[12:] - raw_sum[:-12]).max())
    assert independent == pytest.approx(7.0, abs=0.05)

    frames = np.stack([f.precip_mm for f in read_knmi_frames(FILES)]).astype(np.float64)
    cum = np.concatenate(
        [np.zeros((1, *frames.shape[1:])), np.nancumsum(frames, axis=0)]
    )
    assert float((cum[12:] - cum[:-12]).max()) == pytest.approx(independent, abs=1e-4)


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / FILES[12].name
    shutil.copyfile(FILES[12], dst)
    dst.chmod(0o644)
    return dst


def test_truncated_file_is_a_parse_error(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ParseError, match=path.name):
        read_knmi_frame(path)


def test_another_parameter_is_a_unit_error(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["image1"].attrs["image_geo_parameter"] = np.bytes_(b"REFLECTIVITY_[DBZ]")
    with pytest.raises(UnitError, match="REFLECTIVITY"):
        read_knmi_frame(path)


def test_negative_calibrated_values_are_a_physical_error(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["image1/calibration"].attrs["calibration_formulas"] = np.bytes_(
            b"GEO=0.01*PV-1.0"
        )
    with pytest.raises(PhysicalError, match=path.name):
        read_knmi_frame(path)


def test_wrong_offset_is_caught_by_the_corners(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["geographic"].attrs["geo_row_offset"] = np.array([3600.0], dtype=np.float32)
    with pytest.raises(SchemaError, match="corner"):
        read_knmi_frame(path)
