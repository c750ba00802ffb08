"""Import real town boundaries exported by a statistics or mapping bureau.

The bundled Zhaoqing geometry is schematic. A bureau that holds the real
town boundaries exports them as GeoJSON (from a GIS, in lon/lat), with its
own property names; :func:`import_region` maps those names onto ours,
checks every feature and writes the layout :mod:`models.region` reads::

    OUT_DIR/towns.geojson   one Feature per town, our property names
    OUT_DIR/counties.csv    code, name, towns, population_est
    OUT_DIR/SOURCES.md      where the file came from and which fields were used

What is checked: every feature has a code, a name and a population; codes
are unique; polygons are valid (an invalid one is refused, or repaired with
``repair=True``); coordinates are lon/lat. Overlaps between towns larger
than ``max_overlap_km2`` are refused, since a pixel would then count for two
towns. The county of a town is its own field if the export has one, else
the first six digits of a 9-digit NBS town code. The kind (``street``,
``town``, ``township``) is a field if given, else read from the name's
ending (街道, 镇, 乡).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyproj
import shapely
from shapely.geometry import mapping, shape

from models.region import (
    REQUIRED,
    Region,
    checked_polygon,
    town_from_feature,
    town_kind,
)
from schemas.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldMap:
    """Property names of the bureau's export.

    ``county_code`` and ``kind`` may be None (derived from the code and the
    name); ``county_names`` maps county codes to names when the export has
    no ``county_name`` field.
    """

    code: str = "code"
    name: str = "name"
    population: str = "population"
    county_code: str | None = None
    county_name: str | None = None
    kind: str | None = None
    name_en: str | None = None
    county_names: Mapping[str, str] = field(default_factory=dict)


def import_region(
    geojson_path: str | Path,
    out_dir: str | Path,
    *,
    fields: FieldMap | None = None,
    repair: bool = False,
    max_overlap_km2: float = 0.05,
) -> Region:
    """Check a bureau's town GeoJSON and write it in the ews region layout.

    Parameters
    ----------
    geojson_path : str or Path
        FeatureCollection of town polygons, lon/lat (WGS 84 or CGCS2000,
        which agree to well under a metre).
    out_dir : str or Path
        Directory to write ``towns.geojson``, ``counties.csv``, ``SOURCES.md``.
    fields : FieldMap, optional
        The export's property names; default ``code``, ``name``,
        ``population``.
    repair : bool
        Repair invalid polygons with ``shapely.make_valid`` instead of refusing.
    max_overlap_km2 : float
        Largest overlap between two towns tolerated, km^2.

    Returns
    -------
    Region
        The region as :meth:`models.region.Region.load` reads it back.

    Raises
    ------
    ConfigError
        The file or one of its features is not usable; the message names
        the feature and the field.
    """
    fields = fields or FieldMap()
    src = Path(geojson_path)
    out = Path(out_dir)
    try:
        document = json.loads(src.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"boundary file {src} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"boundary file {src} is not UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ConfigError(f"boundary file {src} is not a GeoJSON FeatureCollection")
    raw = document.get("features") or []
    if not raw:
        raise ConfigError(f"boundary file {src} has no features")

    features = [
        _convert(feature, f"{src} feature {i}", fields, repair)
        for i, feature in enumerate(raw)
    ]
    region = Region(
        [town_from_feature(f, f"{src} feature {i}") for i, f in enumerate(features)],
        name=out.name,
    )
    _check_overlaps(region, max_overlap_km2, src)

    out.mkdir(parents=True, exist_ok=True)
    collection = {"type": "FeatureCollection", "name": out.name, "features": features}
    (out / "towns.geojson").write_text(
        json.dumps(collection, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    _write_counties(region, out / "counties.csv")
    _write_sources(src, fields, region, out / "SOURCES.md")
    logger.info("imported %d towns from %s into %s", len(region.towns), src, out)
    return Region.load(out / "towns.geojson")


def _convert(
    feature: Any, where: str, fields: FieldMap, repair: bool
) -> dict[str, Any]:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise ConfigError(f"{where} is not a GeoJSON Feature")
    props = feature.get("properties") or {}

    def need(name: str | None, what: str) -> Any:
        if name is None or props.get(name) in (None, ""):
            raise ConfigError(f"{where}: no {what} in property {name!r}")
        return props[name]

    code = str(need(fields.code, "town code")).strip()
    where = f"{where} (town {code})"
    name = str(need(fields.name, "town name")).strip()
    population = _population(need(fields.population, "population"), where)
    if fields.county_code is not None:
        county_code = str(need(fields.county_code, "county code")).strip()
    elif len(code) >= 9 and code.isdigit():
        county_code = code[:6]
    else:
        raise ConfigError(
            f"{where}: code {code!r} is not a 9-digit NBS town code; name the "
            "county code field"
        )
    if fields.county_name is not None:
        county_name = str(need(fields.county_name, "county name")).strip()
    else:
        county_name = fields.county_names.get(county_code, county_code)
    kind = str(need(fields.kind, "kind")) if fields.kind else town_kind(name)

    geometry = feature.get("geometry")
    if repair and isinstance(geometry, Mapping):
        geometry = _repaired(geometry, where)
    polygon = checked_polygon(geometry, where)
    properties = {
        "code": code,
        "name": name,
        "county_code": county_code,
        "county_name": county_name,
        "population_est": population,
        "kind": kind,
        "schematic": False,
    }
    if fields.name_en and props.get(fields.name_en):
        properties["name_en"] = str(props[fields.name_en])
    assert set(REQUIRED) <= set(properties)
    return {"type": "Feature", "properties": properties, "geometry": mapping(polygon)}


def _population(value: Any, where: str) -> int:
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        raise ConfigError(f"{where}: population {value!r} is not a number") from None
    if number < 0 or number != int(number):
        raise ConfigError(f"{where}: population {value!r}, expected whole persons >= 0")
    return int(number)


def _repaired(geometry: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{where}: geometry does not parse ({exc})") from None
    if geom.is_valid:
        return geometry
    fixed = shapely.make_valid(geom)
    polygons = [
        g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type.endswith("Polygon")
    ]
    logger.info("%s: repaired an invalid polygon", where)
    return mapping(shapely.union_all(polygons))


def _check_overlaps(region: Region, max_overlap_km2: float, src: Path) -> None:
    geod = pyproj.Geod(ellps="WGS84")
    for town in region.towns:
        for other in region.towns_for_geometry(town.polygon):
            if other.code <= town.code:
                continue
            shared = town.polygon.intersection(other.polygon)
            if shared.is_empty or shared.area == 0:
                continue
            km2 = abs(geod.geometry_area_perimeter(shared)[0]) / 1e6
            if km2 > max_overlap_km2:
                raise ConfigError(
                    f"{src}: towns {town.code} and {other.code} overlap by "
                    f"{km2:.3f} km2, more than the {max_overlap_km2} km2 allowed"
                )


def _write_counties(region: Region, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "towns", "population_est"])
        for county in sorted(region.counties, key=lambda c: c.code):
            writer.writerow(
                [
                    county.code,
                    county.name,
                    len(county.town_codes),
                    county.population_est,
                ]
            )


def _write_sources(src: Path, fields: FieldMap, region: Region, path: Path) -> None:
    lines = [
        f"# {path.parent.name}: town boundaries",
        "",
        f"Imported from `{src.name}` ({len(region.towns)} towns, "
        f"{len(region.counties)} counties, population {region.population_est:,}).",
        "",
        "Fields used: "
        + ", ".join(
            f"{ours} <- `{theirs}`"
            for ours, theirs in (
                ("code", fields.code),
                ("name", fields.name),
                ("population_est", fields.population),
                ("county_code", fields.county_code or "first 6 digits of code"),
                ("county_name", fields.county_name or "county_names mapping"),
                ("kind", fields.kind or "ending of the name"),
            )
        )
        + ".",
        "",
        "Provider, licence and date of the boundaries: (to be filled in).",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
