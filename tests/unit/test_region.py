"""The bundled Zhaoqing region, the region loader and radar pixel masks."""

from __future__ import annotations

import csv
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import Point, box

from connectors.radar_codec import Grid
from connectors.region_build import zhaoqing_collection
from models.region import Region, default_region, pixel_masks
from schemas.errors import ConfigError, UnknownReferenceError

ZHAOQING = Path(__file__).resolve().parents[2] / "data/regions/zhaoqing"
EXTENT = (111.3, 22.8, 112.9, 24.4)
# The BoM Rainfields grid: 512 x 512 pixels of 0.5 km centred on the radar.
BOM_GRID = Grid("bom-66-512x512-0.5km", 512, 512, 0.5, 0.5, -127.75, 127.75, "")
GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def region() -> Region:
    return default_region()


def nbs_towns() -> dict[str, str]:
    """Township-level codes of the NBS file, less the prison and the zone."""
    with (ZHAOQING / "source/streets.csv").open(encoding="utf-8") as fh:
        rows = {r["code"]: r["name"] for r in csv.DictReader(fh)}
    assert rows.pop("441284400") == "广东省济广监狱"
    assert rows.pop("441284450") == "肇庆高新技术产业开发区"
    return rows


def test_counts_codes_and_names_follow_the_nbs_file(region: Region) -> None:
    assert len(region.counties) == 8
    assert len(region.towns) == 104
    assert {t.code: t.name for t in region.towns} == nbs_towns()
    per_county = {c.name: len(c.town_codes) for c in region.counties}
    assert per_county == {
        "端州区": 4, "鼎湖区": 7, "高要区": 17, "广宁县": 15,
        "怀集县": 19, "封开县": 16, "德庆县": 13, "四会市": 13,
    }  # fmt: skip
    assert all(t.code.startswith(t.county_code) for t in region.towns)


def test_kinds_follow_the_names(region: Region) -> None:
    kinds = [t.kind for t in region.towns]
    assert kinds.count("township") == 1
    assert region.town("441224200").name == "下帅壮族瑶族乡"
    streets = [t.name for t in region.towns if t.kind == "street"]
    assert len(streets) == sum(1 for n in nbs_towns().values() if n.endswith("街道"))


def test_populations_sum_to_the_2020_census(region: Region) -> None:
    assert region.population_est == 4_113_594
    with (ZHAOQING / "counties.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(int(r["population_est"]) for r in rows) == 4_113_594
    for county in region.counties:
        row = next(r for r in rows if r["code"] == county.code)
        assert county.population_est == int(row["population_est"])
    # Sub-districts are denser than towns in the same county.
    gaoyao = [region.town(c) for c in next(
        c for c in region.counties if c.code == "441204").town_codes]  # fmt: skip
    street = next(t for t in gaoyao if t.kind == "street")
    assert all(
        street.population_est > t.population_est for t in gaoyao if t is not street
    )


def test_polygons_valid_inside_the_extent_and_disjoint(region: Region) -> None:
    frame = box(*EXTENT)
    for town in region.towns:
        assert town.polygon.is_valid and town.polygon.geom_type == "Polygon"
        assert frame.covers(town.polygon)
        assert town.schematic
    tree = shapely.STRtree([t.polygon for t in region.towns])
    for i, town in enumerate(region.towns):
        for j in tree.query(town.polygon):
            if j > i:
                assert town.polygon.intersection(region.towns[j].polygon).area == 0.0


def test_build_is_deterministic_and_matches_the_committed_file() -> None:
    committed = json.loads((ZHAOQING / "towns.geojson").read_text(encoding="utf-8"))
    rebuilt, _ = zhaoqing_collection(ZHAOQING / "source")
    assert json.loads(json.dumps(rebuilt)) == committed


def test_towns_for_geometry_agrees_with_brute_force(region: Region) -> None:
    duanzhou = region.town("441202001")
    inside = duanzhou.polygon.representative_point()
    assert [t.code for t in region.towns_for_geometry(inside)] == ["441202001"]
    area = box(112.0, 23.4, 112.3, 23.6)
    expected = [t.code for t in region.towns if t.polygon.intersects(area)]
    assert [t.code for t in region.towns_for_geometry(area)] == expected
    assert region.towns_for_geometry(Point(100.0, 10.0)) == []


def test_unknown_town_is_an_unknown_reference(region: Region) -> None:
    with pytest.raises(UnknownReferenceError, match="441299999"):
        region.town("441299999")


def _feature(code: str = "441202001", **props: object) -> dict:
    base = {
        "code": code, "name": "城东街道", "county_code": "441202",
        "county_name": "端州区", "population_est": 1000, "kind": "street",
    }  # fmt: skip
    base.update(props)
    ring = [[112.0, 23.0], [112.1, 23.0], [112.1, 23.1], [112.0, 23.1], [112.0, 23.0]]
    return {"type": "Feature", "properties": base,
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


def _write(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "towns.geojson"
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_load_reads_a_minimal_file(tmp_path: Path) -> None:
    region = Region.load(_write(tmp_path, [_feature()]))
    assert region.town("441202001").population_est == 1000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"population_est": -5}, "population_est"),
        ({"population_est": "many"}, "population_est"),
        ({"kind": "village"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_load_refuses_bad_properties(
    tmp_path: Path, change: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Region.load(_write(tmp_path, [_feature(**change)]))


def test_load_refuses_missing_property(tmp_path: Path) -> None:
    feature = _feature()
    del feature["properties"]["county_code"]
    with pytest.raises(ConfigError, match="county_code"):
        Region.load(_write(tmp_path, [feature]))


def test_load_refuses_a_bow_tie(tmp_path: Path) -> None:
    feature = _feature()
    feature["geometry"]["coordinates"] = [
        [[112.0, 23.0], [112.1, 23.1], [112.1, 23.0], [112.0, 23.1], [112.0, 23.0]]
    ]
    with pytest.raises(ConfigError, match="not valid .*Self-intersection"):
        Region.load(_write(tmp_path, [feature]))


def test_load_refuses_duplicates_and_non_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="appears twice"):
        Region.load(_write(tmp_path, [_feature(), _feature()]))
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not UTF-8 JSON"):
        Region.load(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        Region.load(tmp_path / "missing.geojson")


def test_bom_grid_at_the_centre_covers_every_town(region: Region) -> None:
    masks = pixel_masks(region, BOM_GRID, 112.1, 23.6)
    assert set(masks) == {t.code for t in region.towns}
    counts = {code: idx.size for code, idx in masks.items()}
    assert min(counts.values()) >= 150
    assert 400 <= np.median(list(counts.values())) <= 900
    for town in region.towns:
        # An equidistant projection keeps areas to within 0.1 % this close to
        # its centre, so the pixel count is the town's area over 0.25 km2.
        area_km2 = abs(GEOD.geometry_area_perimeter(town.polygon)[0]) / 1e6
        assert counts[town.code] == pytest.approx(area_km2 / 0.25, rel=0.05, abs=8)
    every = np.concatenate(list(masks.values()))
    assert np.unique(every).size == every.size


def test_pixels_lie_in_their_town(region: Region) -> None:
    origin = (112.1, 23.6)
    masks = pixel_masks(region, BOM_GRID, *origin)
    to_geo = pyproj.Transformer.from_crs(
        f"+proj=aeqd +lat_0={origin[1]} +lon_0={origin[0]} +datum=WGS84 +units=m",
        "EPSG:4326",
        always_xy=True,
    )
    for code in ("441202001", "441224200", "441284113"):
        idx = masks[code]
        rows, cols = np.divmod(idx, BOM_GRID.nx)
        x_m = (BOM_GRID.x0_km + cols * BOM_GRID.dx_km) * 1000
        y_m = (BOM_GRID.y0_km - rows * BOM_GRID.dy_km) * 1000
        lon, lat = to_geo.transform(x_m, y_m)
        # Within 1e-7 degree (1 cm): the projected edges are chords of 200 m.
        polygon = region.town(code).polygon.buffer(1e-7)
        assert shapely.contains_xy(polygon, lon, lat).all()


def test_far_placement_leaves_towns_off_the_grid(region: Region) -> None:
    masks = pixel_masks(region, BOM_GRID, 114.5, 23.6)
    assert all(idx.size == 0 for idx in masks.values())
    west_edge = pixel_masks(region, BOM_GRID, 113.5, 23.6)
    on = [code for code, idx in west_edge.items() if idx.size]
    assert 0 < len(on) < len(region.towns)
    assert all(region.town(code).county_code != "441225" for code in on)


def test_no_two_counties_share_a_pixel(region: Region) -> None:
    masks = pixel_masks(region, BOM_GRID, 112.1, 23.6)
    by_county: dict[str, set[int]] = {}
    for town in region.towns:
        by_county.setdefault(town.county_code, set()).update(masks[town.code].tolist())
    for a, b in combinations(by_county.values(), 2):
        assert not a & b
