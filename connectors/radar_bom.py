"""Read Bureau of Meteorology Rainfields accumulations (CF NetCDF).

Each file holds one accumulation, ``precipitation(y, x)`` in ``kg m-2``
(= mm of water), on a 512 x 512 grid of 0.5 km pixels centred on the radar,
with the Albers equal-area projection in a CF grid-mapping variable and the
window in the scalars ``start_time`` and ``valid_time`` (seconds since 1970,
UTC). Two variants are read:

``prcp-c10`` (Rainfields 3.2, CF-1.7, 10 min)
    ``x``/``y`` are pixel centres and name their ``x_bounds``/``y_bounds``.
``prcp-cscn`` (Rainfields 3.0, CF-1.6, 6 min)
    ``x``/``y`` have no bounds and hold pixel *edges*: ``x`` the west edge
    and ``y`` the north edge of each pixel (-128 ... 127.5 km and 128 ...
    -127.5 km). The centres are half a pixel east and south of them.

Both give pixel centres at -127.75 ... 127.75 km from the radar. Rows are
returned north to south whatever order the file uses.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pyproj
from pyproj.exceptions import ProjError

from connectors.radar_codec import Grid, RadarFrame
from schemas.errors import ParseError, PhysicalError, SchemaError, UnitError

logger = logging.getLogger(__name__)

SOURCE = "bom-rainfields"
MM_UNITS = {"kg m-2", "kg/m2", "kg m**-2", "mm"}
KM_PER_UNIT = {"km": 1.0, "m": 0.001}
EPOCH_UNITS = "seconds since 1970-01-01"
NEGATIVE_TOLERANCE_MM = 0.1


def read_bom_frame(
    path: str | Path, *, negative_tolerance_mm: float = NEGATIVE_TOLERANCE_MM
) -> RadarFrame:
    """Read one Rainfields accumulation file.

    Parameters
    ----------
    path : str or Path
        A ``*.prcp-c10.nc`` or ``*.prcp-cscn.nc`` file.
    negative_tolerance_mm : float
        Negative values down to ``-negative_tolerance_mm`` (mm) are read as
        no data; anything more negative is refused.

    Returns
    -------
    RadarFrame
        ``precip_mm`` in mm per step, NaN where the file has its fill value.

    Raises
    ------
    ParseError
        The file is not readable NetCDF (truncated, corrupt, not NetCDF).
    SchemaError
        A variable or attribute the product always has is missing or odd.
    UnitError
        Precipitation is not in ``kg m-2``/``mm`` or x/y not in km or m.
    PhysicalError
        An accumulation below ``-negative_tolerance_mm``.
    """
    path = Path(path)
    try:
        with netCDF4.Dataset(path, mode="r") as ds:
            return _read(ds, path, negative_tolerance_mm)
    except (OSError, RuntimeError, IndexError) as exc:
        raise ParseError(f"{path}: not a readable NetCDF file ({exc})") from None
    except (KeyError, ValueError, TypeError, OverflowError, ProjError) as exc:
        # netCDF4, numpy and PROJ raise these for attributes and values of the
        # wrong kind (a text where a number belongs, a grid mapping without
        # its parameters); the reader's own checks raise schemas.errors classes
        raise SchemaError(
            f"{path}: a variable or attribute is unreadable or of the wrong kind "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def read_bom_frames(paths: Iterable[str | Path]) -> list[RadarFrame]:
    """Read several files and return their frames ordered by ``valid_time``."""
    frames = [read_bom_frame(p) for p in paths]
    return sorted(frames, key=lambda frame: frame.valid_time)


def _read(ds: netCDF4.Dataset, path: Path, negative_tolerance_mm: float) -> RadarFrame:
    precip_var = _precip_variable(ds, path)
    units = str(getattr(precip_var, "units", "")).strip()
    if units not in MM_UNITS:
        raise UnitError(
            f"{path}: {precip_var.name} is in {units!r}, expected an accumulation "
            "in 'kg m-2' (mm)"
        )
    precip_var.set_auto_maskandscale(True)
    values = np.ma.filled(precip_var[:].astype(np.float64), np.nan)
    if values.ndim != 2:
        raise SchemaError(
            f"{path}: {precip_var.name} has {values.ndim} dimensions, expected (y, x)"
        )

    x_km, x_centred = _axis(ds, "x", path)
    y_km, y_centred = _axis(ds, "y", path)
    if values.shape != (y_km.size, x_km.size):
        raise SchemaError(
            f"{path}: {precip_var.name} shape {values.shape} does not match "
            f"y, x sizes ({y_km.size}, {x_km.size})"
        )
    dx_km = _spacing(x_km, "x", path)
    dy_km = _spacing(y_km, "y", path)
    if x_km[1] < x_km[0]:
        x_km, values = x_km[::-1], values[:, ::-1]
    if y_km[1] > y_km[0]:
        y_km, values = y_km[::-1], values[::-1, :]
    # Edge convention (no bounds): x holds west edges, y north edges.
    x0_km = float(x_km[0]) if x_centred else float(x_km[0]) + dx_km / 2
    y0_km = float(y_km[0]) if y_centred else float(y_km[0]) - dy_km / 2

    values = _refuse_negative(values, negative_tolerance_mm, path)

    start, valid = _time(ds, "start_time", path), _time(ds, "valid_time", path)
    step_s = int(round((valid - start).total_seconds()))
    if step_s <= 0:
        raise SchemaError(
            f"{path}: start_time {start} is not before valid_time {valid}"
        )

    station = str(getattr(ds, "station_id", "")).strip()
    if not station:
        raise SchemaError(f"{path}: global attribute station_id is missing")
    ny, nx = values.shape
    grid = Grid(
        id=f"bom-{station}-{ny}x{nx}-{dx_km:g}km",
        ny=ny,
        nx=nx,
        dx_km=dx_km,
        dy_km=dy_km,
        x0_km=x0_km,
        y0_km=y0_km,
        native_crs=_native_crs(ds, precip_var, path),
    )
    frame = RadarFrame(
        radar_id=f"bom-{station}",
        source=f"{SOURCE}/{_product(path)}",
        valid_time=valid,
        step_s=step_s,
        precip_mm=values.astype(np.float32),
        grid=grid,
    )
    logger.debug(
        "read %s: %s step %d s, max %.2f mm",
        path.name,
        valid.isoformat(),
        step_s,
        float(np.nanmax(values)) if np.isfinite(values).any() else float("nan"),
    )
    return frame


def _refuse_negative(values: np.ndarray, tolerance_mm: float, path: Path) -> np.ndarray:
    """Small negative values become no data; larger ones are an error."""
    with np.errstate(invalid="ignore"):
        negative = values < 0
    if not negative.any():
        return values
    lowest = float(values[negative].min())
    if lowest < -tolerance_mm - 1e-9:
        raise PhysicalError(
            f"{path}: negative accumulation {lowest:.3f} mm, expected >= 0 mm"
        )
    # XXX: real Rainfields c10 files hold a few pixels of -0.1 mm (raw -2, next
    # to fill values, in dry areas); the product does not document them, so
    # they are read as no data rather than as rain or as an error.
    logger.debug("%s: %d pixels of %.2f mm read as no data", path.name,
                 int(negative.sum()), lowest)  # fmt: skip
    values = values.copy()
    values[negative] = np.nan
    return values


def _precip_variable(ds: netCDF4.Dataset, path: Path) -> Any:
    if "precipitation" in ds.variables:
        return ds.variables["precipitation"]
    for var in ds.variables.values():
        if getattr(var, "standard_name", None) == "precipitation_amount":
            return var
    raise SchemaError(
        f"{path}: no 'precipitation' variable (standard_name precipitation_amount); "
        f"found {sorted(ds.variables)}"
    )


def _axis(ds: netCDF4.Dataset, name: str, path: Path) -> tuple[np.ndarray, bool]:
    """Coordinate values in km and whether they are pixel centres."""
    if name not in ds.variables:
        raise SchemaError(f"{path}: coordinate variable {name!r} is missing")
    var = ds.variables[name]
    units = str(getattr(var, "units", "")).strip()
    if units not in KM_PER_UNIT:
        raise UnitError(f"{path}: {name} is in {units!r}, expected 'km' or 'm'")
    values = np.asarray(var[:], dtype=np.float64) * KM_PER_UNIT[units]
    if values.ndim != 1 or values.size < 2:
        raise SchemaError(f"{path}: {name} has shape {values.shape}, expected (n>=2,)")
    bounds_name = getattr(var, "bounds", None)
    if bounds_name is None:
        return values, False
    if bounds_name not in ds.variables:
        raise SchemaError(f"{path}: {name} names bounds {bounds_name!r}, not present")
    bounds = np.asarray(ds.variables[bounds_name][:], dtype=np.float64)
    middle = bounds.mean(axis=1) * KM_PER_UNIT[units]
    if not np.allclose(middle, values, atol=1e-6):
        raise SchemaError(f"{path}: {name} is not the middle of {bounds_name}")
    return values, True


def _spacing(values: np.ndarray, name: str, path: Path) -> float:
    steps = np.abs(np.diff(values))
    step = float(steps.mean())
    if step <= 0 or not np.allclose(steps, step, rtol=1e-6, atol=1e-6):
        raise SchemaError(f"{path}: {name} is not evenly spaced")
    return round(step, 6)


def _time(ds: netCDF4.Dataset, name: str, path: Path) -> datetime:
    if name not in ds.variables:
        raise SchemaError(f"{path}: time variable {name!r} is missing")
    var = ds.variables[name]
    units = str(getattr(var, "units", ""))
    if not units.startswith(EPOCH_UNITS):
        raise UnitError(f"{path}: {name} is in {units!r}, expected '{EPOCH_UNITS} UTC'")
    var.set_auto_mask(False)
    value = np.asarray(var[:])
    try:
        seconds = int(value.item())
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        # not one number, NaN, or beyond the years 1-9999
        raise SchemaError(
            f"{path}: {name} holds {value.ravel()[:3].tolist()} (shape "
            f"{value.shape}), expected one time in seconds since 1970"
        ) from None


def _native_crs(ds: netCDF4.Dataset, precip_var: Any, path: Path) -> str:
    mapping_name = getattr(precip_var, "grid_mapping", None)
    if mapping_name is None or mapping_name not in ds.variables:
        raise SchemaError(f"{path}: {precip_var.name} has no CF grid_mapping variable")
    mapping = ds.variables[mapping_name]
    attrs = tuple(
        (key, _hashable(mapping.getncattr(key))) for key in sorted(mapping.ncattrs())
    )
    try:
        return _proj_from_cf(attrs)
    except (ProjError, ValueError, TypeError, KeyError) as exc:
        # pyproj raises ValueError or TypeError for parameters that are not
        # numbers, CRSError for numbers that make no projection
        raise SchemaError(
            f"{path}: grid mapping {mapping_name!r}: {str(exc)[:200]}"
        ) from None


def _hashable(value: Any) -> Any:
    array = np.asarray(value)
    return tuple(array.tolist()) if array.ndim else array.item()


@functools.lru_cache(maxsize=16)
def _proj_from_cf(attrs: tuple[tuple[str, Any], ...]) -> str:
    """PROJ string of a CF grid mapping (cached: building a datum is slow)."""
    cf = {
        key: list(value) if isinstance(value, tuple) else value for key, value in attrs
    }
    crs = pyproj.CRS.from_cf(cf)
    with warnings.catch_warnings():
        # A PROJ string drops the datum's name, not the geometry we need.
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4()
    return proj4.replace(" +type=crs", "")


def _product(path: Path) -> str:
    suffixes = path.suffixes
    return suffixes[-2].lstrip(".") if len(suffixes) >= 2 else "prcp"
