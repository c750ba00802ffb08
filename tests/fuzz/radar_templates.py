"""Small radar files cut from the real samples, for fuzzing at speed.

A 512 x 512 Rainfields or 765 x 700 KNMI frame costs some 15 ms to read,
check and encode; ten thousand of them would take minutes. A window cut from
a real file keeps every variable, attribute and convention of the product
(the bounds or edge convention of the axes, the packed integers, the
calibration, the grid mapping) at a few thousand pixels. The KNMI cut moves
the image offsets and recomputes the corner longitudes and latitudes the
reader checks, from the file's own projection.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pyproj


def cut_bom(src: Path, dst: Path, row: int, col: int, size: int) -> Path:
    """Copy ``size`` x ``size`` pixels of a Rainfields file from ``(row, col)``."""
    window = {"y": slice(row, row + size), "x": slice(col, col + size)}
    with netCDF4.Dataset(src) as old, netCDF4.Dataset(dst, "w") as new:
        new.setncatts({k: old.getncattr(k) for k in old.ncattrs()})
        for name, dim in old.dimensions.items():
            length = size if name in window else len(dim)
            new.createDimension(name, None if dim.isunlimited() else length)
        for name, var in old.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            fill = attrs.pop("_FillValue", None)
            out = new.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            out.setncatts(attrs)
            var.set_auto_maskandscale(False)
            out.set_auto_maskandscale(False)
            index = tuple(window.get(d, slice(None)) for d in var.dimensions)
            out[...] = var[index] if var.dimensions else var[...]
    return dst


def cut_knmi(src: Path, dst: Path, row: int, col: int, size: int) -> Path:
    """Copy ``size`` x ``size`` pixels of a KNMI file from ``(row, col)``."""
    with h5py.File(src) as old, h5py.File(dst, "w") as new:
        for name in old:
            old.copy(name, new)
        image = new["image1/image_data"]
        cut = image[row : row + size, col : col + size]
        attrs = dict(image.attrs)
        del new["image1/image_data"]
        new["image1/image_data"] = cut
        new["image1/image_data"].attrs.update(attrs)

        geo = new["geographic"]
        geo.attrs["geo_number_rows"] = np.array([size], dtype=np.int32)
        geo.attrs["geo_number_columns"] = np.array([size], dtype=np.int32)
        col_offset = float(geo.attrs["geo_column_offset"][0]) - col
        row_offset = float(geo.attrs["geo_row_offset"][0]) + row
        geo.attrs["geo_column_offset"] = np.array([col_offset], dtype=np.float32)
        geo.attrs["geo_row_offset"] = np.array([row_offset], dtype=np.float32)

        dx = float(geo.attrs["geo_pixel_size_x"][0])
        dy = -float(geo.attrs["geo_pixel_size_y"][0])
        west, north = -col_offset * dx, -row_offset * dy
        east, south = west + size * dx, north - size * dy
        params = new["geographic/map_projection"].attrs["projection_proj4_params"]
        to_geo = pyproj.Transformer.from_crs(
            pyproj.CRS.from_proj4(_in_metres(params.decode())),
            "EPSG:4326",
            always_xy=True,
        )
        # stated order: lower-left, upper-left, upper-right, lower-right
        xs, ys = [west, west, east, east], [south, north, north, south]
        lons, lats = to_geo.transform(np.multiply(xs, 1000), np.multiply(ys, 1000))
        corners = np.column_stack([lons, lats]).ravel().astype(np.float32)
        geo.attrs["geo_product_corners"] = corners
    return dst


def _in_metres(proj4: str) -> str:
    """A KNMI projection (axes in km) with its ellipsoid in metres."""
    out = []
    for token in proj4.split():
        key, _, value = token.partition("=")
        if key in ("+a", "+b") and float(value) < 1e5:
            token = f"{key}={float(value) * 1000.0}"
        out.append(token)
    return " ".join(out) + " +units=m"
