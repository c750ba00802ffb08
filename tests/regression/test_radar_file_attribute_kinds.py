"""Radar files whose attributes hold the wrong kind of value crashed the readers.

Rainfields NetCDF: a grid-mapping parameter that is text (pyproj raised
ValueError), a grid mapping without its parameters (KeyError), a time of
2**62 s (OverflowError). KNMI HDF5: a missing-data count that is text
(ValueError). A native projection PROJ cannot build (CRSError) escaped
``native_origin_lonlat``, which the replay calls for every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import netCDF4
import pytest

from connectors.radar_bom import read_bom_frame
from connectors.radar_codec import Grid, native_origin_lonlat
from connectors.radar_knmi import read_knmi_frame
from connectors.scenario import SAMPLES_DIR
from schemas.errors import SchemaError

RADAR = SAMPLES_DIR / "radar"
BOM = sorted((RADAR / "bom_prcp-c10_66_20201031").glob("*.nc"))[0]
KNMI = sorted((RADAR / "knmi_rad_nl25_rap_5min_20100826").glob("*.h5"))[0]


def copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(src, tmp_path / src.name))


def test_a_text_grid_mapping_parameter(tmp_path: Path) -> None:
    path = copy(BOM, tmp_path)
    with netCDF4.Dataset(path, "r+") as ds:
        ds.variables["proj"].setncattr("false_easting", "x" * 50)
    with pytest.raises(SchemaError, match=path.name):
        read_bom_frame(path)


def test_a_grid_mapping_without_its_parallels(tmp_path: Path) -> None:
    path = copy(BOM, tmp_path)
    with netCDF4.Dataset(path, "r+") as ds:
        ds.variables["proj"].delncattr("standard_parallel")
    with pytest.raises(SchemaError, match=path.name):
        read_bom_frame(path)


def test_a_time_beyond_the_calendar(tmp_path: Path) -> None:
    path = copy(BOM, tmp_path)
    with netCDF4.Dataset(path, "r+") as ds:
        ds.variables["valid_time"][...] = 2**62
    with pytest.raises(SchemaError, match="valid_time holds"):
        read_bom_frame(path)


def test_a_knmi_count_that_is_text(tmp_path: Path) -> None:
    path = copy(KNMI, tmp_path)
    with h5py.File(path, "r+") as h5:
        h5["image1/calibration"].attrs["calibration_missing_data"] = "many"
    with pytest.raises(SchemaError, match=path.name):
        read_knmi_frame(path)


def test_a_native_projection_proj_cannot_build() -> None:
    grid = Grid("g", 2, 2, 1.0, 1.0, 0.0, 0.0, "+proj=aea +lat_1=1 +lat_2=2 +b=-1")
    with pytest.raises(SchemaError, match="native_crs"):
        native_origin_lonlat(grid)
