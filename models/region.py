"""The warning areas: towns, their polygons, populations and counties.

A region is read from a GeoJSON FeatureCollection of town polygons (lon/lat
degrees, WGS 84), one Feature per town with the properties ``code``,
``name``, ``county_code``, ``county_name``, ``population_est`` (persons),
``kind`` (``street``, ``town`` or ``township``) and optionally ``name_en``
and ``schematic``. The bundled default is Zhaoqing, whose geometry is
schematic (see ``data/regions/zhaoqing/SOURCES.md``).

Radar pixels are matched to towns by :func:`pixel_masks`: the grid's km
coordinates are read as an azimuthal equidistant projection centred on a
chosen origin, every town polygon is projected into it, and a pixel belongs
to a town when its centre lies inside the polygon. For a frame shown where
it was measured the origin is the radar (or grid centre) and the
equidistant projection is within a fraction of a pixel of the native one
over a radar's range; for a *transposed* frame (the demo lays the Brisbane
storm of 2020-10-31 over Zhaoqing) the origin is wherever the storm is put,
and the rain is real but its place is not.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from schemas.errors import ConfigError, UnknownReferenceError

logger = logging.getLogger(__name__)

DEFAULT_REGION = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "regions"
    / "zhaoqing"
    / "towns.geojson"
)
KINDS = ("street", "town", "township")
SEGMENT_DEG = 0.002
REQUIRED = ("code", "name", "county_code", "county_name", "population_est", "kind")


class GridLike(Protocol):
    """What :func:`pixel_masks` needs of a radar grid (km, rows north to south)."""

    @property
    def ny(self) -> int: ...
    @property
    def nx(self) -> int: ...
    @property
    def dx_km(self) -> float: ...
    @property
    def dy_km(self) -> float: ...
    @property
    def x0_km(self) -> float: ...
    @property
    def y0_km(self) -> float: ...


@dataclass(frozen=True, eq=False)
class Town:
    """One warning area.

    ``polygon`` is a shapely Polygon or MultiPolygon in lon/lat degrees;
    ``population_est`` is in persons (an estimate where ``schematic``).
    """

    code: str
    name: str
    county_code: str
    county_name: str
    population_est: int
    kind: str
    polygon: BaseGeometry
    name_en: str = ""
    schematic: bool = False


@dataclass(frozen=True)
class County:
    """A county-level division and the codes of its towns."""

    code: str
    name: str
    town_codes: tuple[str, ...]
    population_est: int


class Region:
    """A set of towns with a spatial index.

    Parameters
    ----------
    towns : iterable of Town
        Codes must be unique.
    name : str
        Name of the region, for messages.
    """

    def __init__(self, towns: Iterable[Town], name: str = "region") -> None:
        self.name = name
        self.towns: tuple[Town, ...] = tuple(towns)
        self._by_code: dict[str, Town] = {}
        for town in self.towns:
            if town.code in self._by_code:
                raise ConfigError(f"region {name}: town code {town.code} appears twice")
            self._by_code[town.code] = town
        self._tree = shapely.STRtree([t.polygon for t in self.towns])
        counties: dict[str, list[Town]] = {}
        for town in self.towns:
            counties.setdefault(town.county_code, []).append(town)
        self.counties: tuple[County, ...] = tuple(
            County(
                code=code,
                name=members[0].county_name,
                town_codes=tuple(t.code for t in members),
                population_est=sum(t.population_est for t in members),
            )
            for code, members in counties.items()
        )

    @classmethod
    def load(cls, path: str | Path) -> Region:
        """Read a region from a GeoJSON FeatureCollection of towns.

        Raises
        ------
        ConfigError
            The file is missing, not JSON, not a FeatureCollection, or a
            feature lacks a property, has a bad value or an invalid polygon.
        """
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"region file {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"region file {path} is not UTF-8 JSON: {exc}") from None
        if (
            not isinstance(document, dict)
            or document.get("type") != "FeatureCollection"
        ):
            raise ConfigError(f"region file {path} is not a GeoJSON FeatureCollection")
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise ConfigError(f"region file {path} has no features")
        towns = [
            town_from_feature(f, f"{path} feature {i}") for i, f in enumerate(features)
        ]
        region = cls(towns, name=str(document.get("name", path.stem)))
        logger.debug("loaded %d towns from %s", len(towns), path)
        return region

    def town(self, code: str) -> Town:
        """The town with NBS code ``code``.

        Raises
        ------
        UnknownReferenceError
            No town of the region has that code.
        """
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownReferenceError(
                f"region {self.name} has no town {code!r} ({len(self.towns)} towns, "
                f"codes such as {self.towns[0].code})"
            ) from None

    def towns_for_geometry(self, geom: BaseGeometry) -> list[Town]:
        """Towns whose polygon intersects ``geom`` (lon/lat), in region order."""
        hits = self._tree.query(geom, predicate="intersects")
        return [self.towns[i] for i in sorted(int(h) for h in hits)]

    @property
    def population_est(self) -> int:
        """Sum of the towns' population estimates, persons."""
        return sum(t.population_est for t in self.towns)

    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north of all towns, degrees."""
        return tuple(shapely.total_bounds([t.polygon for t in self.towns]).tolist())  # type: ignore[return-value]


def town_from_feature(feature: Any, where: str) -> Town:
    """Build a :class:`Town` from one GeoJSON Feature, checking every field."""
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise ConfigError(f"{where} is not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise ConfigError(f"{where} has no properties")
    missing = [key for key in REQUIRED if key not in props]
    if missing:
        raise ConfigError(
            f"{where} lacks properties {missing}, expected {list(REQUIRED)}"
        )
    code = str(props["code"])
    where = f"{where} (town {code})"
    for key in ("code", "name", "county_code", "county_name"):
        if not isinstance(props[key], str) or not props[key].strip():
            raise ConfigError(f"{where}: {key} is {props[key]!r}, expected a text")
    population = props["population_est"]
    if (
        isinstance(population, bool)
        or not isinstance(population, int)
        or population < 0
    ):
        raise ConfigError(
            f"{where}: population_est is {population!r}, expected whole persons >= 0"
        )
    if props["kind"] not in KINDS:
        raise ConfigError(
            f"{where}: kind is {props['kind']!r}, expected one of {KINDS}"
        )
    return Town(
        code=code,
        name=props["name"],
        county_code=props["county_code"],
        county_name=props["county_name"],
        population_est=population,
        kind=props["kind"],
        polygon=checked_polygon(feature.get("geometry"), where),
        name_en=str(props.get("name_en") or ""),
        schematic=bool(props.get("schematic", False)),
    )


def checked_polygon(geometry: Any, where: str) -> BaseGeometry:
    """A valid lon/lat Polygon or MultiPolygon from a GeoJSON geometry."""
    if not isinstance(geometry, Mapping):
        raise ConfigError(f"{where} has no geometry")
    try:
        geom = shape(geometry)
    except (
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        shapely.errors.GEOSException,
    ) as exc:
        raise ConfigError(f"{where}: geometry does not parse ({exc})") from None
    if not isinstance(geom, Polygon | MultiPolygon):
        raise ConfigError(
            f"{where}: geometry is a {geom.geom_type}, expected a Polygon"
        )
    if geom.is_empty:
        raise ConfigError(f"{where}: polygon is empty")
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise ConfigError(f"{where}: polygon is not valid ({reason})")
    if geom.area <= 0:
        raise ConfigError(f"{where}: polygon has no area")
    west, south, east, north = geom.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise ConfigError(f"{where}: coordinates {geom.bounds} are not lon/lat degrees")
    return geom


def town_kind(name: str) -> str:
    """``street`` (街道), ``town`` (镇) or ``township`` (乡) from an NBS name."""
    if name.endswith("街道"):
        return "street"
    if name.endswith("镇"):
        return "town"
    if name.endswith("乡"):
        return "township"
    raise ConfigError(f"town name {name!r} ends in none of 街道, 镇, 乡")


def load_region(path: str | Path) -> Region:
    """Read a region file (same as :meth:`Region.load`)."""
    return Region.load(path)


def default_region() -> Region:
    """The bundled Zhaoqing region (schematic geometry, estimated populations)."""
    # XXX: read from the source tree's data/ folder; a wheel install does not
    # ship it, so only an editable install or a checkout finds the default.
    return Region.load(DEFAULT_REGION)


def aeqd_crs(origin_lon: float, origin_lat: float) -> pyproj.CRS:
    """Azimuthal equidistant projection in km centred on the origin (degrees)."""
    return pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={origin_lat} +lon_0={origin_lon} +datum=WGS84 +units=km"
    )


def pixel_masks(
    region: Region, grid: GridLike, origin_lon: float, origin_lat: float
) -> dict[str, np.ndarray]:
    """Flat pixel indices of every town on a grid placed at an origin.

    Parameters
    ----------
    region : Region
        The towns.
    grid : GridLike
        The radar grid: pixel ``[i, j]`` has its centre at
        ``(x0_km + j dx_km, y0_km - i dy_km)`` km from the origin.
    origin_lon, origin_lat : float
        Where the grid origin is put, degrees east and north.

    Returns
    -------
    dict of str to numpy.ndarray
        For every town code, the sorted int64 indices ``i * nx + j`` of the
        pixels whose centre lies in the town; empty for a town off the grid.
    """
    if not (-180 <= origin_lon <= 180 and -90 <= origin_lat <= 90):
        raise ConfigError(f"grid origin ({origin_lon}, {origin_lat}) is not lon/lat")
    to_km = pyproj.Transformer.from_crs(
        "EPSG:4326", aeqd_crs(origin_lon, origin_lat), always_xy=True
    )
    masks: dict[str, np.ndarray] = {}
    for town in region.towns:
        # Densify first: a straight edge in lon/lat is curved in the projection.
        dense = shapely.segmentize(town.polygon, SEGMENT_DEG)
        projected = shapely.transform(
            dense, lambda xy: np.column_stack(to_km.transform(xy[:, 0], xy[:, 1]))
        )
        masks[town.code] = _pixels_inside(projected, grid)
    covered = sum(1 for m in masks.values() if m.size)
    logger.debug(
        "pixel masks at (%.3f, %.3f): %d of %d towns on the grid",
        origin_lon,
        origin_lat,
        covered,
        len(masks),
    )
    return masks


def _pixels_inside(polygon: BaseGeometry, grid: GridLike) -> np.ndarray:
    west, south, east, north = polygon.bounds
    j0 = max(0, math.ceil((west - grid.x0_km) / grid.dx_km))
    j1 = min(grid.nx - 1, math.floor((east - grid.x0_km) / grid.dx_km))
    i0 = max(0, math.ceil((grid.y0_km - north) / grid.dy_km))
    i1 = min(grid.ny - 1, math.floor((grid.y0_km - south) / grid.dy_km))
    if j0 > j1 or i0 > i1:
        return np.empty(0, dtype=np.int64)
    cols = np.arange(j0, j1 + 1)
    rows = np.arange(i0, i1 + 1)
    jj, ii = np.meshgrid(cols, rows)
    x = grid.x0_km + jj * grid.dx_km
    y = grid.y0_km - ii * grid.dy_km
    inside = shapely.contains_xy(polygon, x, y)
    return np.sort((ii[inside] * grid.nx + jj[inside]).astype(np.int64))
