"""Build the bundled Zhaoqing region: official codes, schematic geometry.

The codes and names of Zhaoqing's 8 county-level divisions and 104 towns are
the National Bureau of Statistics' (``data/regions/zhaoqing/source/``). No
openly licensed town boundaries exist, so the geometry made here is
*schematic*: good enough to exercise the pipeline, not a map.

1. **County blocks.** :data:`COUNTY_MAP` paints Zhaoqing's extent
   (111.3-112.9 E, 22.8-24.4 N) in 0.1 degree cells, one letter per county,
   each block roughly where the county lies: Huaiji north, Guangning
   north-east, Fengkai west, Deqing south-west along the West River, Gaoyao
   south, Duanzhou and Dinghu between Gaoyao and Sihui, Sihui east. Cell
   counts roughly follow the counties' areas (within about 15 %, Duanzhou
   excepted: two cells for about 150 km2).
2. **Town cells.** Inside each block, one seed per town starts from a Halton
   sequence and is moved by Lloyd relaxation (each seed to the centroid of
   its Voronoi cell) so the cells come out of similar size; the Voronoi
   cells are clipped to the block and snapped to a 1e-6 degree grid. The
   Voronoi is taken in x = lon cos(23.6 deg), y = lat, so that cells are
   round on the ground. A detached piece of a clipped cell goes to the
   neighbour it shares the longest border with.
3. **Names to cells.** Sub-districts (the towns' urban cores) get the cells
   nearest the county seat, the towns and townships the rest in code order.
4. **Populations.** :data:`COUNTIES` carries an *estimate* per county that
   sums to the 2020 census total of the city, 4,113,594. Within a county
   the estimate is shared by weight (sub-district 3, town 1, township 0.8)
   and rounded by largest remainder so the towns sum to the county exactly.

Everything is deterministic (no random numbers), so running
:func:`build_zhaoqing` again writes the same files byte for byte.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, box, mapping
from shapely.ops import unary_union

from models.region import town_kind
from schemas.errors import ConfigError

logger = logging.getLogger(__name__)

REGION_DIR = Path(__file__).resolve().parents[1] / "data" / "regions" / "zhaoqing"
CENSUS_2020_TOTAL = 4_113_594
WEST, NORTH, CELL_DEG = 111.3, 24.4, 0.1
LAT_REF = 23.6
PRECISION_DEG = 1e-6
LLOYD_ITERATIONS = 40
KIND_WEIGHT = {"street": 3.0, "town": 1.0, "township": 0.8}
DROPPED = {
    "441284400": "广东省济广监狱 (a prison, not a township)",
    "441284450": "肇庆高新技术产业开发区 (a development zone, not a township)",
}

#: Row 0 is 24.3-24.4 N, column 0 is 111.3-111.4 E.
COUNTY_MAP = (
    ".......HH.......",
    ".....HHHH.......",
    "....FHHHHH......",
    "..FFFHHHHHG.....",
    ".FFFFHHHHGGG....",
    ".FFFFHHHHGGG....",
    ".FFFFHHHGGGG....",
    "FFFFQHHHGGGGGS..",
    ".FFFQQHGGGGGSSS.",
    "..FQQQQQGGGSSSS.",
    "..QQQQQYYYDDSSS.",
    "...QQQQYYYDDS...",
    "....QQYYYYZZ....",
    "......YYYYYY....",
    ".......YYYY.....",
    "........YY......",
)


@dataclass(frozen=True)
class CountySpec:
    """What the build knows of a county beyond its NBS code and name."""

    code: str
    name_en: str
    letter: str
    seat_lon: float
    seat_lat: float
    population_est: int
    basis: str


# Rounded from the 2020 census results per county as republished on the web
# (Huaiji 80.52, Gaoyao 74.16, Duanzhou 60.24, Sihui 52.65, Guangning 40.81,
# Fengkai 37.48, Deqing 33.14, Dinghu 20.91, in 10,000 persons). Sihui takes
# the remainder to the city total, which folds in the high-tech zone and the
# prison (both inside Sihui, both dropped as towns).
COUNTIES = (
    CountySpec("441202", "Duanzhou District", "Z", 112.47, 23.05, 602_000,
               "rounded 2020 census figure (602,400)"),
    CountySpec("441203", "Dinghu District", "D", 112.57, 23.17, 209_000,
               "rounded 2020 census figure (209,100)"),
    CountySpec("441204", "Gaoyao District", "Y", 112.46, 23.03, 742_000,
               "rounded 2020 census figure (741,600)"),
    CountySpec("441223", "Guangning County", "G", 112.44, 23.63, 408_000,
               "rounded 2020 census figure (408,100)"),
    CountySpec("441224", "Huaiji County", "H", 112.18, 23.91, 805_000,
               "rounded 2020 census figure (805,200)"),
    CountySpec("441225", "Fengkai County", "F", 111.51, 23.43, 375_000,
               "rounded 2020 census figure (374,800)"),
    CountySpec("441226", "Deqing County", "Q", 111.78, 23.14, 331_000,
               "rounded 2020 census figure (331,400)"),
    CountySpec("441284", "Sihui City", "S", 112.73, 23.34, 641_594,
               "remainder to the city total: Sihui (526,500) plus the high-tech "
               "zone and the prison inside it"),
)  # fmt: skip


def build_zhaoqing(
    source_dir: Path = REGION_DIR / "source", out_dir: Path = REGION_DIR
) -> dict[str, Any]:
    """Build and write ``towns.geojson`` and ``counties.csv``.

    Parameters
    ----------
    source_dir : Path
        Holds the NBS ``areas.csv`` and ``streets.csv`` and ``names_en.csv``.
    out_dir : Path
        Where the two files are written.

    Returns
    -------
    dict
        The GeoJSON FeatureCollection written.
    """
    collection, counties = zhaoqing_collection(source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(collection, ensure_ascii=False, indent=1, sort_keys=False)
    (out_dir / "towns.geojson").write_text(text + "\n", encoding="utf-8")
    with (out_dir / "counties.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["code", "name", "name_en", "towns", "population_est", "population_basis"]
        )
        writer.writerows(counties)
    logger.info(
        "wrote %d towns in %d counties to %s",
        len(collection["features"]),
        len(counties),
        out_dir,
    )
    return collection


def zhaoqing_collection(source_dir: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """The towns FeatureCollection and the county rows, without writing."""
    county_names, towns = _read_nbs(source_dir)
    names_en = _read_names_en(source_dir / "names_en.csv")
    blocks = county_blocks()
    features: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    for spec in COUNTIES:
        members = [t for t in towns if t["county_code"] == spec.code]
        if not members:
            raise ConfigError(f"{source_dir}: county {spec.code} has no towns")
        seat = Point(spec.seat_lon, spec.seat_lat)
        cells = town_cells(blocks[spec.letter], len(members), seat)
        populations = spread_population(
            spec.population_est, [KIND_WEIGHT[t["kind"]] for t in members]
        )
        for town, cell, population in zip(members, cells, populations, strict=True):
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": town["code"],
                        "name": town["name"],
                        "name_en": names_en.get(town["code"], ""),
                        "county_code": spec.code,
                        "county_name": county_names[spec.code],
                        "population_est": population,
                        "kind": town["kind"],
                        "schematic": True,
                    },
                    "geometry": _rounded(mapping(cell)),
                }
            )
        rows.append(
            [spec.code, county_names[spec.code], spec.name_en, len(members),
             spec.population_est, spec.basis]
        )  # fmt: skip
    collection = {
        "type": "FeatureCollection",
        "name": "zhaoqing",
        "schematic": True,
        "features": features,
    }
    return collection, rows


def county_blocks() -> dict[str, Polygon]:
    """The block of each county letter of :data:`COUNTY_MAP`, lon/lat degrees."""
    cells: dict[str, list[Polygon]] = {}
    for row, line in enumerate(COUNTY_MAP):
        for col, letter in enumerate(line):
            if letter == ".":
                continue
            west = round(WEST + col * CELL_DEG, 6)
            north = round(NORTH - row * CELL_DEG, 6)
            cells.setdefault(letter, []).append(
                box(west, round(north - CELL_DEG, 6), round(west + CELL_DEG, 6), north)
            )
    blocks = {}
    for letter, parts in cells.items():
        block = unary_union(parts)
        if not isinstance(block, Polygon):
            raise ConfigError(f"county map: letter {letter!r} is not one block")
        blocks[letter] = block
    return blocks


def town_cells(block: Polygon, n: int, seat: Point) -> list[Polygon]:
    """``n`` non-overlapping cells covering ``block``, nearest ``seat`` first."""
    scale = math.cos(math.radians(LAT_REF))
    shape = shapely.transform(block, lambda xy: xy * [scale, 1.0])
    seeds = _halton_inside(shape, n)
    for _ in range(LLOYD_ITERATIONS):
        cells = _clipped_voronoi(shape, seeds)
        seeds = np.array([_centre(c) for c in cells])
    cells = _merge_fragments(_clipped_voronoi(shape, seeds, keep_parts=True))
    cells = [shapely.transform(c, lambda xy: xy / [scale, 1.0]) for c in cells]
    cells = [shapely.set_precision(c, PRECISION_DEG) for c in cells]
    seat_in = seat if block.contains(seat) else block.exterior.interpolate(
        block.exterior.project(seat)
    )  # fmt: skip
    cells.sort(key=lambda c: (c.centroid.distance(seat_in), c.centroid.x))
    return cells


def spread_population(total: int, weights: Sequence[float]) -> list[int]:
    """Share ``total`` persons by ``weights``; largest remainder, exact sum."""
    w = np.asarray(weights, dtype=np.float64)
    share = total * w / w.sum()
    floor = np.floor(share).astype(np.int64)
    left = int(total - floor.sum())
    order = np.argsort(-(share - floor), kind="stable")
    floor[order[:left]] += 1
    return [int(v) for v in floor]


def _read_nbs(source_dir: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    with (source_dir / "areas.csv").open(encoding="utf-8") as fh:
        counties = {r["code"]: r["name"] for r in csv.DictReader(fh)}
    towns = []
    with (source_dir / "streets.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["code"] in DROPPED:
                continue
            if r["areaCode"] not in counties:
                raise ConfigError(f"{source_dir}: town {r['code']} names no county")
            towns.append(
                {
                    "code": r["code"],
                    "name": r["name"],
                    "county_code": r["areaCode"],
                    "kind": town_kind(r["name"]),
                }
            )
    return counties, towns


def _read_names_en(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        return {r["code"]: r["name_en"] for r in csv.DictReader(fh)}


def _halton(index: int, base: int) -> float:
    value, fraction = 0.0, 1.0
    while index > 0:
        fraction /= base
        value += fraction * (index % base)
        index //= base
    return value


def _halton_inside(shape: Polygon, n: int) -> np.ndarray:
    west, south, east, north = shape.bounds
    points: list[tuple[float, float]] = []
    index = 1
    while len(points) < n:
        x = west + (east - west) * _halton(index, 2)
        y = south + (north - south) * _halton(index, 3)
        if shape.contains(Point(x, y)):
            points.append((x, y))
        index += 1
    return np.array(points)


def _clipped_voronoi(
    shape: Polygon, seeds: np.ndarray, keep_parts: bool = False
) -> list[Any]:
    if len(seeds) == 1:
        return [shape]
    regions = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=shape, ordered=True)
    by_seed = [region.intersection(shape) for region in regions.geoms]
    if not keep_parts:
        by_seed = [_largest(c) for c in by_seed]
    return by_seed


def _largest(geom: Any) -> Polygon:
    if isinstance(geom, Polygon):
        return geom
    return max(geom.geoms, key=lambda g: g.area)


def _centre(cell: Polygon) -> tuple[float, float]:
    c = cell.centroid
    if not cell.contains(c):
        c = cell.representative_point()
    return (c.x, c.y)


def _merge_fragments(cells: list[Any]) -> list[Polygon]:
    """Give every detached piece of a cell to the neighbour it borders most."""
    main = [_largest(c) for c in cells]
    for i, cell in enumerate(cells):
        if isinstance(cell, Polygon):
            continue
        for part in cell.geoms:
            if part.equals(main[i]):
                continue
            border = [
                part.boundary.intersection(main[j].boundary).length if j != i else -1.0
                for j in range(len(main))
            ]
            j = int(np.argmax(border))
            main[j] = _largest(unary_union([main[j], part]))
    return main


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def ring(coords: Sequence[Sequence[float]]) -> list[list[float]]:
        return [[round(x, 6), round(y, 6)] for x, y in coords]

    if geometry["type"] == "Polygon":
        return {
            "type": "Polygon",
            "coordinates": [ring(r) for r in geometry["coordinates"]],
        }
    raise ConfigError(f"schematic town is a {geometry['type']}, expected a Polygon")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    build_zhaoqing()
