"""Read KNMI radar accumulations (KNMI HDF5 "image" layout).

A file such as ``RAD_NL25_RAP_5min_201008260005.h5`` holds one 5-min
accumulation of the Netherlands composite:

* ``image1/image_data``: uint16 (rows x columns), 1 km pixels, rows running
  north to south; the physical value follows ``image1/calibration``
  (``GEO=0.01*PV+0.0``: 0.01 mm per count) and the missing value there
  (65535, also used outside the radars' range);
* ``overview``: ``product_datetime_start``/``product_datetime_end`` as
  ``26-AUG-2010;00:00:00.000`` (UTC);
* ``geographic``: pixel size, the upper-left offset of the image in a polar
  stereographic projection (``map_projection``, PROJ parameters in km) and
  the lon/lat of the four corners.

The frame's grid is put in km from the *grid centre*: ``native_crs`` is the
file's projection in metres with false easting/northing chosen so that the
grid centre is (0, 0). The corners the file states are projected and must
agree with the grid to within half a pixel, so a misread offset cannot pass
silently.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyproj
from pyproj.exceptions import ProjError

from connectors.radar_codec import Grid, RadarFrame
from schemas.errors import ParseError, PhysicalError, SchemaError, UnitError

logger = logging.getLogger(__name__)

SOURCE = "knmi"
MM_PARAMETER = "ACCUMULATED_PRECIPITATION_[MM]"
_CALIBRATION_RE = re.compile(r"^GEO\s*=\s*([-+.\deE]+)\s*\*\s*PV\s*([-+]\s*[.\deE]+)$")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "JAN",
            "FEB",
            "MAR",
            "APR",
            "MAY",
            "JUN",
            "JUL",
            "AUG",
            "SEP",
            "OCT",
            "NOV",
            "DEC",
        ]
    )
}
_TIME_RE = re.compile(r"^(\d{2})-([A-Z]{3})-(\d{4});(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?$")


def read_knmi_frame(path: str | Path) -> RadarFrame:
    """Read one KNMI HDF5 accumulation file.

    Parameters
    ----------
    path : str or Path
        A ``RAD_NL25_RAP_5min_*.h5`` file (or another product of that layout).

    Returns
    -------
    RadarFrame
        ``precip_mm`` in mm per step on the 1 km grid, NaN = no data.

    Raises
    ------
    ParseError
        The file is not readable HDF5 (truncated, corrupt, not HDF5).
    SchemaError
        A group or attribute of the layout is missing, inconsistent, or holds
        a value of the wrong kind.
    UnitError
        The image is not an accumulation in mm.
    PhysicalError
        A negative accumulation.
    """
    path = Path(path)
    try:
        with h5py.File(path, mode="r") as h5:
            return _read(h5, path)
    except (OSError, RuntimeError) as exc:
        raise ParseError(f"{path}: not a readable HDF5 file ({exc})") from None
    except (KeyError, ValueError, TypeError, OverflowError, ProjError) as exc:
        # h5py raises KeyError for an object it cannot open and ValueError for
        # a stored type it cannot map; numpy, datetime and PROJ raise the
        # others for attribute values of the wrong kind (a text where a count
        # belongs, day 32, an ellipsoid axis of NaN). The reader's own checks
        # raise schemas.errors classes, which pass through.
        raise SchemaError(
            f"{path}: a KNMI group, attribute or value is unreadable or of the "
            f"wrong kind ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def read_knmi_frames(paths: Iterable[str | Path]) -> list[RadarFrame]:
    """Read several files and return their frames ordered by ``valid_time``."""
    frames = [read_knmi_frame(p) for p in paths]
    return sorted(frames, key=lambda frame: frame.valid_time)


def _read(h5: h5py.File, path: Path) -> RadarFrame:
    image = _node(h5, "image1", path)
    parameter = _text(_attr(image, "image_geo_parameter", path))
    if parameter != MM_PARAMETER:
        raise UnitError(
            f"{path}: image1 holds {parameter!r}, expected {MM_PARAMETER!r}"
        )
    calibration = _node(h5, "image1/calibration", path)
    gain, offset = _calibration(_text(_attr(calibration, "calibration_formulas", path)))
    missing = {
        int(np.asarray(_attr(calibration, "calibration_missing_data", path)).item())
    }
    if "calibration_out_of_image" in calibration.attrs:
        missing.add(
            int(np.asarray(calibration.attrs["calibration_out_of_image"]).item())
        )

    raw = np.asarray(_node(h5, "image1/image_data", path)[()])
    if raw.ndim != 2:
        raise SchemaError(f"{path}: image_data has shape {raw.shape}, expected 2-D")
    values = raw.astype(np.float64) * gain + offset
    values[np.isin(raw, list(missing))] = np.nan
    if np.isfinite(values).any() and np.nanmin(values) < 0:
        low = float(np.nanmin(values))
        raise PhysicalError(
            f"{path}: negative accumulation {low:.3f} mm, expected >= 0 mm"
        )

    overview = _node(h5, "overview", path)
    start = _time(_attr(overview, "product_datetime_start", path), path)
    valid = _time(_attr(overview, "product_datetime_end", path), path)
    step_s = int(round((valid - start).total_seconds()))
    if step_s <= 0:
        raise SchemaError(
            f"{path}: product start {start} is not before its end {valid}"
        )

    grid = _grid(h5, raw.shape, path)
    product = _text(overview.attrs.get("product_group_name", b"RAD_NL25"))
    frame = RadarFrame(
        radar_id="knmi-nl25",
        source=f"{SOURCE}/{product}",
        valid_time=valid,
        step_s=step_s,
        precip_mm=values.astype(np.float32),
        grid=grid,
    )
    logger.debug("read %s: %s step %d s", path.name, valid.isoformat(), step_s)
    return frame


def _grid(h5: h5py.File, shape: tuple[int, ...], path: Path) -> Grid:
    geo = _node(h5, "geographic", path)
    ny, nx = int(shape[0]), int(shape[1])
    rows = int(np.asarray(_attr(geo, "geo_number_rows", path)).item())
    cols = int(np.asarray(_attr(geo, "geo_number_columns", path)).item())
    if (rows, cols) != (ny, nx):
        raise SchemaError(f"{path}: geographic says {rows}x{cols}, image is {ny}x{nx}")
    size_x = float(np.asarray(_attr(geo, "geo_pixel_size_x", path)).item())
    size_y = float(np.asarray(_attr(geo, "geo_pixel_size_y", path)).item())
    if size_x <= 0 or size_y >= 0:
        raise SchemaError(
            f"{path}: pixel size ({size_x}, {size_y}) km, expected x > 0 and y < 0 "
            "(rows north to south)"
        )
    if _text(geo.attrs.get("geo_dim_pixel", b"KM,KM")) != "KM,KM":
        raise UnitError(f"{path}: geo_dim_pixel is not 'KM,KM'")
    col_offset = float(np.asarray(_attr(geo, "geo_column_offset", path)).item())
    row_offset = float(np.asarray(_attr(geo, "geo_row_offset", path)).item())
    dx_km, dy_km = size_x, -size_y

    # Upper-left corner of the image in the file's projection, km.
    west_km = -col_offset * dx_km
    north_km = -row_offset * dy_km
    centre_x = west_km + nx * dx_km / 2
    centre_y = north_km - ny * dy_km / 2

    params = _proj_params(_node(h5, "geographic/map_projection", path), path)
    native = _native_proj(params, centre_x, centre_y)
    _check_corners(geo, native, nx * dx_km / 2, ny * dy_km / 2, dx_km, path)
    return Grid(
        id=f"knmi-nl25-{ny}x{nx}-{dx_km:g}km",
        ny=ny,
        nx=nx,
        dx_km=dx_km,
        dy_km=dy_km,
        x0_km=-nx * dx_km / 2 + dx_km / 2,
        y0_km=ny * dy_km / 2 - dy_km / 2,
        native_crs=native,
    )


def _proj_params(node: Any, path: Path) -> dict[str, str]:
    text = _text(_attr(node, "projection_proj4_params", path))
    params: dict[str, str] = {}
    for token in text.split():
        key, _, value = token.lstrip("+").partition("=")
        params[key] = value
    if params.get("proj") != "stere":
        raise SchemaError(f"{path}: projection {text!r}, expected polar stereographic")
    return params


def _native_proj(params: dict[str, str], centre_x_km: float, centre_y_km: float) -> str:
    """The file's projection in metres, shifted so the grid centre is (0, 0)."""
    scale = 1000.0 if float(params.get("a", "6378137")) < 1e5 else 1.0
    out = dict(params)
    for axis in ("a", "b"):
        if axis in out:
            out[axis] = f"{float(out[axis]) * scale:.1f}"
    false_x = float(params.get("x_0", "0")) * scale - centre_x_km * 1000.0
    false_y = float(params.get("y_0", "0")) * scale - centre_y_km * 1000.0
    out["x_0"] = f"{false_x:.1f}"
    out["y_0"] = f"{false_y:.1f}"
    out["units"] = "m"
    out.pop("no_defs", None)
    return " ".join(f"+{k}={v}" if v else f"+{k}" for k, v in out.items()) + " +no_defs"


def _check_corners(
    geo: Any, native: str, half_w_km: float, half_h_km: float, dx_km: float, path: Path
) -> None:
    corners = np.asarray(_attr(geo, "geo_product_corners", path), dtype=np.float64)
    if corners.size != 8:
        raise SchemaError(
            f"{path}: geo_product_corners has {corners.size} values, not 8"
        )
    x_m, y_m = _to_grid(native).transform(corners[0::2], corners[1::2])
    found = np.column_stack([np.asarray(x_m), np.asarray(y_m)]) / 1000.0
    # Stated order: lower-left, upper-left, upper-right, lower-right.
    expected = np.array(
        [
            [-half_w_km, -half_h_km],
            [-half_w_km, half_h_km],
            [half_w_km, half_h_km],
            [half_w_km, -half_h_km],
        ]
    )
    error_km = float(np.abs(found - expected).max())
    if error_km > dx_km / 2:
        raise SchemaError(
            f"{path}: corner lon/lat are {error_km:.1f} km from the grid the offsets "
            "give, expected within half a pixel"
        )


@functools.lru_cache(maxsize=8)
def _to_grid(native: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", native, always_xy=True)


def _calibration(formula: str) -> tuple[float, float]:
    match = _CALIBRATION_RE.match(formula.strip())
    if match is None:
        raise SchemaError(f"calibration formula {formula!r}, expected 'GEO=a*PV+b'")
    return float(match.group(1)), float(match.group(2).replace(" ", ""))


def _time(value: Any, path: Path) -> datetime:
    text = _text(value)
    match = _TIME_RE.match(text)
    if match is None or match.group(2) not in _MONTHS:
        raise SchemaError(
            f"{path}: time {text!r}, expected like '26-AUG-2010;00:05:00.000'"
        )
    day, month, year, hour, minute, second = match.groups()
    return datetime(
        int(year),
        _MONTHS[month],
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=UTC,
    )


def _node(h5: h5py.File, name: str, path: Path) -> Any:
    if name not in h5:
        raise SchemaError(f"{path}: HDF5 object {name!r} is missing")
    return h5[name]


def _attr(node: Any, name: str, path: Path) -> Any:
    if name not in node.attrs:
        raise SchemaError(f"{path}: attribute {node.name}/{name} is missing")
    return node.attrs[name]


def _text(value: Any) -> str:
    array = np.asarray(value)
    item = array.reshape(-1)[0] if array.size else b""
    return item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
