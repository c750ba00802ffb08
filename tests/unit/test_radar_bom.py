"""Rainfields NetCDF reader on the real Brisbane and Melbourne frames.

Event maxima are computed here straight from the files with xarray (CF
decoding, rolling sums), independently of the reader, and compared with the
figures measured when the samples were collected (data/samples/radar/
SOURCES.md): Brisbane 2020-10-31 15.3 mm in 10 min, 64.0 mm in 1 h, 88.7 mm
in 3 h; Melbourne 2018-06-16 14.6 mm in 1 h.
"""

from __future__ import annotations

import functools
import shutil
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from connectors.radar_bom import read_bom_frame, read_bom_frames
from connectors.radar_codec import native_origin_lonlat
from schemas.errors import ParseError, PhysicalError, UnitError

SAMPLES = Path(__file__).resolve().parents[2] / "data/samples/radar"
BRISBANE = sorted((SAMPLES / "bom_prcp-c10_66_20201031").glob("*.nc"))
MELBOURNE = sorted((SAMPLES / "bom_prcp-cscn_2_20180616").glob("*.nc"))


@functools.cache
def xarray_series(folder: str) -> xr.DataArray:
    """The folder's frames stacked along t by xarray's own CF decoding."""
    files = sorted((SAMPLES / folder).glob("*.nc"))
    parts = [xr.open_dataset(f).load() for f in files]
    ds = xr.concat(parts, dim="t", data_vars="all", coords="minimal", compat="override")
    return ds.precipitation


@functools.cache
def reader_series(folder: str) -> np.ndarray:
    frames = read_bom_frames(sorted((SAMPLES / folder).glob("*.nc")))
    return np.stack([f.precip_mm for f in frames]).astype(np.float64)


def rolling_max_xarray(folder: str, steps: int) -> float:
    """Largest running total over ``steps`` frames, straight from xarray."""
    cum = xarray_series(folder).fillna(0.0).cumsum("t")
    later = cum.isel(t=slice(steps, None)).values
    earlier = cum.isel(t=slice(None, -steps)).values
    first = cum.isel(t=steps - 1).values
    return float(max((later - earlier).max(), first.max()))


def rolling_max_frames(folder: str, steps: int) -> float:
    stack = reader_series(folder)
    cum = np.concatenate([np.zeros((1, *stack.shape[1:])), np.nancumsum(stack, axis=0)])
    return float(np.max(cum[steps:] - cum[:-steps]))


def test_sample_sets_are_complete() -> None:
    assert len(BRISBANE) == 144
    assert len(MELBOURNE) == 61


def test_c10_frame_time_grid_and_projection() -> None:
    frame = read_bom_frame(BRISBANE[35])
    assert frame.valid_time == datetime(2020, 10, 31, 5, 50, tzinfo=UTC)
    assert frame.step_s == 600
    assert frame.radar_id == "bom-66"
    g = frame.grid
    assert (g.ny, g.nx, g.dx_km, g.dy_km) == (512, 512, 0.5, 0.5)
    assert (g.x0_km, g.y0_km) == (-127.75, 127.75)
    assert g.y_km()[-1] == -127.75
    assert "+proj=aea" in g.native_crs and "+lat_1=-26.2" in g.native_crs
    # The grid origin is the Mt Stapylton radar (27.718 S, 153.240 E).
    lon, lat = native_origin_lonlat(g)
    assert lon == pytest.approx(153.24, abs=1e-6)
    assert lat == pytest.approx(-27.7178, abs=1e-6)
    assert frame.precip_mm.dtype == np.float32


def test_c10_values_match_cf_decoding() -> None:
    frame = read_bom_frame(BRISBANE[35])
    with xr.open_dataset(BRISBANE[35]) as ds:
        expected = ds.precipitation.values.astype(np.float64)
        # Rows of the file already run north to south (y decreasing).
        assert ds.y.values[0] > ds.y.values[-1]
    np.testing.assert_allclose(frame.precip_mm, expected, atol=1e-6)


def test_cscn_edge_coordinates_give_pixel_centres() -> None:
    frame = read_bom_frame(MELBOURNE[20])
    with netCDF4.Dataset(MELBOURNE[20]) as ds:
        west_edge, north_edge = float(ds["x"][0]), float(ds["y"][0])
    assert (west_edge, north_edge) == (-128.0, 128.0)
    g = frame.grid
    assert (g.x0_km, g.y0_km) == (west_edge + 0.25, north_edge - 0.25)
    assert g.x_km()[-1] == 127.75
    assert frame.step_s == 360
    assert frame.valid_time == datetime(2018, 6, 16, 12, 0, tzinfo=UTC)
    lon, lat = native_origin_lonlat(g)
    assert (lon, lat) == (pytest.approx(144.752), pytest.approx(-37.852))


def test_frames_come_back_in_time_order() -> None:
    frames = read_bom_frames(reversed(BRISBANE[:5]))
    assert [f.valid_time.minute for f in frames] == [0, 10, 20, 30, 40]


def test_brisbane_event_maxima() -> None:
    folder = "bom_prcp-c10_66_20201031"
    assert float(xarray_series(folder).max()) == pytest.approx(15.3, abs=1e-4)
    assert float(np.nanmax(reader_series(folder))) == pytest.approx(15.3, abs=1e-4)
    for steps, published in ((6, 64.0), (18, 88.7)):
        independent = rolling_max_xarray(folder, steps)
        assert independent == pytest.approx(published, abs=0.05)
        assert rolling_max_frames(folder, steps) == pytest.approx(independent, abs=1e-3)


def test_melbourne_event_maximum_1h() -> None:
    folder = "bom_prcp-cscn_2_20180616"
    independent = rolling_max_xarray(folder, 10)
    # Published to one decimal: 14.65 mm (293 quanta of 0.05 mm) reads 14.6.
    assert independent == pytest.approx(14.6, abs=0.051)
    assert rolling_max_frames(folder, 10) == pytest.approx(independent, abs=1e-3)


def test_fill_values_are_nan(tmp_path: Path) -> None:
    # 07:10 holds 19 pixels at the fill value (raw -1).
    path = SAMPLES / "bom_prcp-c10_66_20201031/66_20201031_071000.prcp-c10.nc"
    with netCDF4.Dataset(path) as ds:
        ds["precipitation"].set_auto_maskandscale(False)
        raw = ds["precipitation"][:]
    frame = read_bom_frame(path)
    assert np.isnan(frame.precip_mm).sum() == int((raw == -1).sum()) == 19


def test_small_negative_values_are_no_data() -> None:
    # 00:40 holds one raw -2 pixel (-0.1 mm) at row 302, column 217.
    path = SAMPLES / "bom_prcp-c10_66_20201031/66_20201031_004000.prcp-c10.nc"
    frame = read_bom_frame(path)
    assert np.isnan(frame.precip_mm[302, 217])
    with pytest.raises(PhysicalError, match="negative accumulation -0.100 mm"):
        read_bom_frame(path, negative_tolerance_mm=0.0)


def _copy(tmp_path: Path, src: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


def test_truncated_file_is_a_parse_error(tmp_path: Path) -> None:
    path = _copy(tmp_path, BRISBANE[35])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match=path.name):
        read_bom_frame(path)


def test_not_netcdf_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "66_20201031_000000.prcp-c10.nc"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(ParseError, match=path.name):
        read_bom_frame(path)


def test_rate_units_are_a_unit_error(tmp_path: Path) -> None:
    path = _copy(tmp_path, BRISBANE[35])
    with netCDF4.Dataset(path, "a") as ds:
        ds["precipitation"].units = "mm h-1"
    with pytest.raises(UnitError, match="'mm h-1'"):
        read_bom_frame(path)


def test_large_negative_value_is_a_physical_error(tmp_path: Path) -> None:
    path = _copy(tmp_path, BRISBANE[35])
    with netCDF4.Dataset(path, "a") as ds:
        ds["precipitation"][100, 100] = -2.5
    with pytest.raises(PhysicalError, match="-2.500 mm"):
        read_bom_frame(path)
