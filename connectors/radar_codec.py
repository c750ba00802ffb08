"""Radar frames in memory and on the ``obs.radar`` topic.

A :class:`RadarFrame` is one precipitation accumulation on a regular grid:
mm fallen during ``step_s`` seconds ending at ``valid_time``, NaN where the
radar saw nothing. Its :class:`Grid` says where the pixels are, in km from
the grid origin (the radar for BoM, the grid centre for KNMI), with rows
running north to south.

On the topic a frame travels as a ``radar_frame/1`` message (see
``docs/architecture.md``). The values are quantised to 0.01 mm and written
as little-endian uint16 (65535 = no data), compressed with zlib and
base64-encoded; the grid geometry travels inline, so a consumer needs no
other file to place the pixels::

    mm  --round(mm / 0.01)-->  uint16  --zlib-->  bytes  --base64-->  "data"

Rounding to the nearest quantum keeps every value within 0.005 mm of the
original. The largest value that fits is 65534 quanta, 655.34 mm in one
step, far beyond any real accumulation; a larger value is refused as a
:class:`~schemas.errors.PhysicalError` rather than clipped.

The message also says where the grid is placed on the Earth. A frame shown
where it was measured carries its native projection and ``transposed:
false``. A frame moved elsewhere (the demo lays a Brisbane storm over
Zhaoqing) carries ``projection: "aeqd"`` and ``transposed: true``: its x/y
in km are then read as an azimuthal equidistant projection centred on
``(origin_lon, origin_lat)``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyproj

from schemas import registry
from schemas.errors import ParseError, PhysicalError, SchemaError, UnitError

logger = logging.getLogger(__name__)

SCHEMA = "radar_frame/1"
QUANTUM_MM = 0.01
NODATA = 65535
MAX_QUANTA = NODATA - 1
MAX_MM = MAX_QUANTA * QUANTUM_MM
ENCODING = "zlib+uint16-le"
ZLIB_LEVEL = 6
#: Most pixels a frame may declare: 4096 x 4096 (64 MiB as float32). BoM
#: grids have 512 x 512, KNMI's 765 x 700.
MAX_PIXELS = 4096 * 4096
#: Pixel sizes a radar grid can have, km.
PIXEL_KM_RANGE = (0.001, 100.0)
#: Largest distance of pixel [0, 0] from the grid origin, km: half the equator.
MAX_OFFSET_KM = 20_037.5
#: Accumulation steps a radar product can have, s: a minute to a day.
STEP_S_RANGE = (60, 86_400)


@dataclass(frozen=True)
class Grid:
    """A regular radar grid, north up.

    Parameters
    ----------
    id : str
        Name of the grid, stable across frames of one product.
    ny, nx : int
        Rows and columns.
    dx_km, dy_km : float
        Pixel size east-west and north-south, km (both positive).
    x0_km, y0_km : float
        Centre of pixel ``[0, 0]`` (the north-west corner pixel), km from the
        grid origin. Column ``j`` is at ``x0_km + j * dx_km``, row ``i`` at
        ``y0_km - i * dy_km``.
    native_crs : str
        PROJ string (metres) of the product's own projection, whose
        coordinates are the grid's km values times 1000.
    """

    id: str
    ny: int
    nx: int
    dx_km: float
    dy_km: float
    x0_km: float
    y0_km: float
    native_crs: str

    def x_km(self) -> np.ndarray:
        """Pixel-centre x of every column, km."""
        return self.x0_km + self.dx_km * np.arange(self.nx, dtype=np.float64)

    def y_km(self) -> np.ndarray:
        """Pixel-centre y of every row, km (decreasing)."""
        return self.y0_km - self.dy_km * np.arange(self.ny, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class RadarFrame:
    """One accumulation frame.

    Parameters
    ----------
    radar_id : str
        Radar or composite identifier (message key on ``obs.radar``).
    source : str
        Product that produced the frame.
    valid_time : datetime
        End of the accumulation, timezone-aware UTC.
    step_s : int
        Length of the accumulation, s.
    precip_mm : numpy.ndarray
        ``(ny, nx)`` float32, mm fallen during the step; NaN = no data.
    grid : Grid
        Where the pixels are.
    """

    radar_id: str
    source: str
    valid_time: datetime
    step_s: int
    precip_mm: np.ndarray
    grid: Grid

    def __post_init__(self) -> None:
        if self.valid_time.tzinfo is None or self.valid_time.utcoffset() is None:
            raise SchemaError(
                f"radar frame {self.radar_id}: valid_time {self.valid_time} has no "
                "time zone, expected an aware UTC datetime"
            )
        shape = (self.grid.ny, self.grid.nx)
        if self.precip_mm.shape != shape:
            raise SchemaError(
                f"radar frame {self.radar_id}: data shape {self.precip_mm.shape} "
                f"does not match grid {self.grid.id} shape {shape}"
            )
        if self.step_s <= 0:
            raise SchemaError(
                f"radar frame {self.radar_id}: step_s {self.step_s} must be positive"
            )


@dataclass(frozen=True)
class PlacedFrame:
    """A decoded frame with where its message places it on the Earth.

    ``origin_lon``/``origin_lat`` (degrees) is the geographic position of
    the grid origin (x = y = 0 km); ``projection`` is ``"aeqd"`` or a PROJ
    string; ``transposed`` is true when the frame was moved away from where
    it was measured.
    """

    frame: RadarFrame
    origin_lon: float
    origin_lat: float
    projection: str
    transposed: bool


def native_origin_lonlat(grid: Grid) -> tuple[float, float]:
    """Longitude and latitude (degrees) of the grid origin in its native CRS.

    Raises
    ------
    SchemaError
        ``native_crs`` is no projection PROJ can build, or puts the origin
        nowhere on the Earth.
    """
    try:
        to_geo = pyproj.Transformer.from_crs(
            pyproj.CRS.from_proj4(grid.native_crs), "EPSG:4326", always_xy=True
        )
        lon, lat = to_geo.transform(0.0, 0.0)
    except pyproj.exceptions.ProjError as exc:  # CRSError is one
        raise SchemaError(
            f"grid {grid.id}: native_crs {grid.native_crs[:200]!r} is not a "
            f"projection ({str(exc)[:200]})"
        ) from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise SchemaError(
            f"grid {grid.id}: native_crs {grid.native_crs[:200]!r} puts the grid "
            "origin nowhere on the Earth"
        )
    return float(lon), float(lat)


def quantise(precip_mm: np.ndarray, *, what: str = "frame") -> np.ndarray:
    """Quantise mm to 0.01 mm uint16 quanta, NaN to 65535.

    Raises
    ------
    PhysicalError
        A value is negative or above 655.34 mm (it would not fit).
    """
    values = np.asarray(precip_mm, dtype=np.float64)
    valid = np.isfinite(values)
    if np.isinf(values).any():
        raise PhysicalError(f"{what}: infinite precipitation, expected finite mm")
    quanta = np.rint(np.where(valid, values, 0.0) / QUANTUM_MM)
    if valid.any():
        low, high = float(values[valid].min()), float(quanta[valid].max())
        if low < 0:
            raise PhysicalError(
                f"{what}: negative precipitation {low:.3f} mm, expected >= 0 mm"
            )
        if high > MAX_QUANTA:
            raise PhysicalError(
                f"{what}: precipitation {values[valid].max():.2f} mm in one step "
                f"is above the {MAX_MM:.2f} mm that radar_frame/1 can carry"
            )
    out = quanta.astype(np.uint16)
    out[~valid] = NODATA
    return out


def encode_frame(
    frame: RadarFrame, *, origin_lon: float, origin_lat: float, transposed: bool
) -> dict[str, Any]:
    """Build the ``radar_frame/1`` message of ``frame``.

    Parameters
    ----------
    frame : RadarFrame
        The frame to send.
    origin_lon, origin_lat : float
        Where the grid origin lies, degrees east and north.
    transposed : bool
        True if ``(origin_lon, origin_lat)`` is not where the frame was
        measured; the grid is then placed with an azimuthal equidistant
        projection centred there, otherwise with ``grid.native_crs``.

    Returns
    -------
    dict
        The message, valid against ``radar_frame/1``.
    """
    what = f"radar frame {frame.radar_id} {frame.valid_time.isoformat()}"
    quanta = quantise(frame.precip_mm, what=what)
    payload = zlib.compress(quanta.astype("<u2").tobytes(), ZLIB_LEVEL)
    grid = frame.grid
    data = base64.b64encode(payload).decode("ascii")
    msg: dict[str, Any] = {
        "schema": SCHEMA,
        "source": frame.source,
        "radar_id": frame.radar_id,
        "valid_time": _iso_utc(frame.valid_time),
        "step_s": int(frame.step_s),
        "units": "mm",
        "quantum_mm": QUANTUM_MM,
        "nodata": NODATA,
        "grid": {
            "id": grid.id,
            "shape": [grid.ny, grid.nx],
            "dx_km": grid.dx_km,
            "dy_km": grid.dy_km,
            "x0_km": grid.x0_km,
            "y0_km": grid.y0_km,
            "origin_lon": float(origin_lon),
            "origin_lat": float(origin_lat),
            "projection": "aeqd" if transposed else grid.native_crs,
            "transposed": bool(transposed),
            "native_crs": grid.native_crs,
        },
        "encoding": ENCODING,
        "data": data,
    }
    registry.validate(msg, SCHEMA)
    logger.debug("encoded %s: %d bytes of base64", what, len(data))
    return msg


def decode_frame(msg: dict[str, Any]) -> PlacedFrame:
    """Read a ``radar_frame/1`` message back into a frame and its placement.

    Raises
    ------
    UnitError
        ``units`` is not ``"mm"``.
    SchemaError
        The message does not match ``radar_frame/1``, declares more than
        :data:`MAX_PIXELS` pixels, or its data do not have the declared shape.
    PhysicalError
        A pixel size outside :data:`PIXEL_KM_RANGE`, an offset beyond
        :data:`MAX_OFFSET_KM` or a step outside :data:`STEP_S_RANGE`.
    ParseError
        ``data`` is not base64 or not a zlib stream.
    """
    if isinstance(msg, dict) and "units" in msg and msg["units"] != "mm":
        raise UnitError(
            f"{SCHEMA} at $.units: found {msg['units']!r}, expected 'mm' per step"
        )
    registry.validate(msg, SCHEMA)
    grid_msg = msg["grid"]
    ny, nx = grid_msg["shape"]
    what = f"{SCHEMA} {msg['radar_id']} {msg['valid_time']}"
    _check_geometry(grid_msg, what)
    low, high = STEP_S_RANGE
    if not low <= msg["step_s"] <= high:
        # a 1-s step would also make the nowcast extrapolate 10,800 steps
        raise PhysicalError(
            f"{what}: $.step_s is {msg['step_s']} s, expected a radar "
            f"accumulation of {low} to {high} s"
        )

    quanta = _unpack(msg["data"], ny, nx, what)
    precip = quanta.astype(np.float32) * np.float32(QUANTUM_MM)
    precip[quanta == NODATA] = np.nan

    grid = Grid(
        id=grid_msg["id"],
        ny=ny,
        nx=nx,
        dx_km=float(grid_msg["dx_km"]),
        dy_km=float(grid_msg["dy_km"]),
        x0_km=float(grid_msg["x0_km"]),
        y0_km=float(grid_msg["y0_km"]),
        native_crs=grid_msg["native_crs"],
    )
    frame = RadarFrame(
        radar_id=msg["radar_id"],
        source=msg["source"],
        valid_time=_parse_utc(msg["valid_time"], what),
        step_s=int(msg["step_s"]),
        precip_mm=precip,
        grid=grid,
    )
    return PlacedFrame(
        frame=frame,
        origin_lon=float(grid_msg["origin_lon"]),
        origin_lat=float(grid_msg["origin_lat"]),
        projection=grid_msg["projection"],
        transposed=bool(grid_msg["transposed"]),
    )


def _check_geometry(grid: dict[str, Any], what: str) -> None:
    """Refuse a grid too large to inflate or placed where no radar can be.

    The schema admits any positive size and any offset; a shape of millions
    of pixels would be inflated before anything else is checked, and a pixel
    of 1e-300 km makes the pixel arithmetic overflow.
    """
    ny, nx = grid["shape"]
    if ny * nx > MAX_PIXELS:
        raise SchemaError(
            f"{what}: $.grid.shape [{ny}, {nx}] is {ny * nx} pixels, more than "
            f"the {MAX_PIXELS} a frame may have"
        )
    low, high = PIXEL_KM_RANGE
    for key in ("dx_km", "dy_km"):
        if not low <= grid[key] <= high:
            raise PhysicalError(
                f"{what}: $.grid.{key} is {grid[key]!r} km, expected a pixel of "
                f"{low:g} to {high:g} km"
            )
    for key in ("x0_km", "y0_km"):
        if not abs(grid[key]) <= MAX_OFFSET_KM:
            raise PhysicalError(
                f"{what}: $.grid.{key} is {grid[key]!r} km from the grid origin, "
                f"farther than the {MAX_OFFSET_KM:g} km any place on Earth is"
            )


def _unpack(data: str, ny: int, nx: int, what: str) -> np.ndarray:
    try:
        payload = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(f"{what}: $.data is not base64 ({exc})") from None
    expected = ny * nx * 2
    try:
        # Never inflate more than the declared shape holds (plus one byte to
        # see that there is more): a hostile stream cannot exhaust memory.
        inflater = zlib.decompressobj()
        raw = inflater.decompress(payload, expected + 1)
    except zlib.error as exc:
        raise ParseError(f"{what}: $.data is not a zlib stream ({exc})") from None
    if len(raw) <= expected and not inflater.eof:
        raise ParseError(f"{what}: $.data is a truncated zlib stream")
    if len(raw) != expected:
        found = f"{len(raw)}" if len(raw) <= expected else f"more than {expected}"
        raise SchemaError(
            f"{what}: $.data holds {found} bytes, expected {expected} "
            f"(shape [{ny}, {nx}] of uint16)"
        )
    return np.frombuffer(raw, dtype="<u2").reshape(ny, nx)


def _iso_utc(time: datetime) -> str:
    # isoformat, not strftime: %Y leaves years before 1000 unpadded
    utc = time.astimezone(UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


def _parse_utc(text: str, what: str) -> datetime:
    try:
        time = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise SchemaError(
            f"{what}: valid_time {text!r} is not ISO-8601, expected e.g. "
            "'2020-10-31T05:50:00Z'"
        ) from None
    offset = time.utcoffset()
    if offset is None or not math.isclose(offset.total_seconds(), 0.0):
        raise SchemaError(f"{what}: valid_time {text!r} is not UTC")
    return time.astimezone(UTC)
