"""Importing a bureau's town boundaries into the ews region layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from connectors.region_import import FieldMap, import_region
from models.region import Region
from schemas.errors import ConfigError

# Field names as a county-level GIS export might carry them.
FIELDS = FieldMap(code="XZQDM", name="XZQMC", population="RK2020",
                  county_names={"441202": "端州区"})  # fmt: skip


def square(west: float, south: float, size: float = 0.05) -> list:
    return [[[west, south], [west + size, south], [west + size, south + size],
             [west, south + size], [west, south]]]  # fmt: skip


def feature(code: str, name: str, population: object, ring: list) -> dict:
    return {
        "type": "Feature",
        "properties": {"XZQDM": code, "XZQMC": name, "RK2020": population},
        "geometry": {"type": "Polygon", "coordinates": ring},
    }


def write(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "export.geojson"
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def three_towns() -> list[dict]:
    return [
        feature("441202001", "城东街道", "152,310", square(112.45, 23.05)),
        feature("441202003", "城西街道", 98000, square(112.50, 23.05)),
        feature("441202101", "某某镇", 41000.0, square(112.45, 23.10)),
    ]


def test_import_writes_the_region_layout(tmp_path: Path) -> None:
    out = tmp_path / "duanzhou"
    region = import_region(write(tmp_path, three_towns()), out, fields=FIELDS)
    assert isinstance(region, Region)
    assert [t.code for t in region.towns] == ["441202001", "441202003", "441202101"]
    assert region.town("441202001").population_est == 152_310
    assert [t.kind for t in region.towns] == ["street", "street", "town"]
    assert {t.county_code for t in region.towns} == {"441202"}
    assert region.town("441202101").county_name == "端州区"
    assert not any(t.schematic for t in region.towns)

    with (out / "counties.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"code": "441202", "name": "端州区", "towns": "3",
                     "population_est": str(152_310 + 98_000 + 41_000)}]  # fmt: skip
    assert "XZQDM" in (out / "SOURCES.md").read_text(encoding="utf-8")
    assert Region.load(out / "towns.geojson").population_est == 291_310


def test_overlapping_towns_are_refused(tmp_path: Path) -> None:
    towns = three_towns()
    towns[1]["geometry"]["coordinates"] = square(112.47, 23.05)
    with pytest.raises(ConfigError, match="441202001 and 441202003 overlap"):
        import_region(write(tmp_path, towns), tmp_path / "out", fields=FIELDS)


def test_invalid_polygon_is_refused_or_repaired(tmp_path: Path) -> None:
    towns = three_towns()
    towns[2]["geometry"]["coordinates"] = [
        [[112.45, 23.10], [112.50, 23.15], [112.50, 23.10], [112.45, 23.15],
         [112.45, 23.10]]
    ]  # fmt: skip
    path = write(tmp_path, towns)
    with pytest.raises(ConfigError, match="441202101.*not valid"):
        import_region(path, tmp_path / "out", fields=FIELDS)
    region = import_region(path, tmp_path / "out", fields=FIELDS, repair=True)
    assert region.town("441202101").polygon.is_valid
    assert region.town("441202101").polygon.area == pytest.approx(0.00125)


@pytest.mark.parametrize(
    ("population", "message"),
    [(None, "no population"), ("unknown", "not a number"), (-3, "whole persons")],
)
def test_bad_population_is_refused(
    tmp_path: Path, population: object, message: str
) -> None:
    towns = three_towns()
    towns[0]["properties"]["RK2020"] = population
    with pytest.raises(ConfigError, match=message):
        import_region(write(tmp_path, towns), tmp_path / "out", fields=FIELDS)


def test_short_code_needs_a_county_field(tmp_path: Path) -> None:
    towns = three_towns()
    towns[0]["properties"]["XZQDM"] = "T01"
    with pytest.raises(ConfigError, match="county code field"):
        import_region(write(tmp_path, towns), tmp_path / "out", fields=FIELDS)
