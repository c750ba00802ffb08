"""Write the SYNTHETIC Zhaoqing exercise inventory from the region's towns.

    python data/inventory/generate.py [--towns data/regions/zhaoqing/towns.geojson]
                                      [--out data/inventory/zhaoqing-exercise]

From each town's ``population_est`` (persons) it makes:

- villages of about ``PEOPLE_PER_VILLAGE`` persons each (at least one per
  town), their populations drawn around equal shares and rounded by largest
  remainder so that they add up to the town exactly; each at a point inside
  the town's (schematic) polygon;
- one loudspeaker per village, covering 85 to 95 % of its people (the rest
  are out of earshot);
- one registered recipient per ``PEOPLE_PER_RECIPIENT`` persons of the town
  (rounded), shared among its villages by population, about
  ``DRILL_SHARE`` of them enrolled for drills, with phone numbers in the
  fictitious range ``+9990 0000000000`` upwards (country code 999 is
  reserved in ITU-T E.164 and assigned to no country, so no such number
  reaches a person).

All draws come from generators seeded with ``SEED`` and the town code, so
the output is the same byte for byte on every run and does not depend on the
order of the towns. Nothing here describes real villages, loudspeakers or
people.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path
from typing import Any

from shapely.geometry import Point, shape

ROOT = Path(__file__).resolve().parents[2]
TOWNS = ROOT / "data" / "regions" / "zhaoqing" / "towns.geojson"
OUT = ROOT / "data" / "inventory" / "zhaoqing-exercise"

SEED = 20260601
PEOPLE_PER_VILLAGE = 2000
PEOPLE_PER_RECIPIENT = 1000
DRILL_SHARE = 0.15
CANTONESE_SHARE = 0.25
PHONE_PREFIX = "+9990"


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers in proportion to ``weights``, summing exactly."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    shares = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (shares[i] - raw[i], i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def point_in(geometry: Any, rng: random.Random) -> tuple[float, float]:
    """Return a point inside ``geometry`` (rejection sampling), rounded to 1e-5 deg."""
    west, south, east, north = geometry.bounds
    for _ in range(10_000):
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if geometry.contains(Point(lon, lat)):
            return round(lon, 5), round(lat, 5)
    point = geometry.representative_point()
    return round(point.x, 5), round(point.y, 5)


def town_inventory(
    town: dict[str, Any], first_phone: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Villages, loudspeakers and recipients of one town."""
    props = town["properties"]
    code, county, population = (
        props["code"],
        props["county_code"],
        int(props["population_est"]),
    )
    rng = random.Random(f"{SEED}:{code}")
    geometry = shape(town["geometry"])
    unit = "社区" if props.get("kind") == "street" else "村"

    count = max(1, round(population / PEOPLE_PER_VILLAGE))
    sizes = largest_remainder(
        population, [0.6 + 0.8 * rng.random() for _ in range(count)]
    )
    villages, loudspeakers = [], []
    for n, size in enumerate(sizes, start=1):
        village_id = f"{code}V{n:03d}"
        lon, lat = point_in(geometry, rng)
        language = "yue" if rng.random() < CANTONESE_SHARE else "zh-CN"
        villages.append(
            {
                "village_id": village_id,
                "town_code": code,
                "name": f"{props['name']}第{n}{unit}(虚构)",
                "population": size,
                "lon": lon,
                "lat": lat,
                "language": language,
            }
        )
        loudspeakers.append(
            {
                "loudspeaker_id": f"LS-{village_id}",
                "village_id": village_id,
                "town_code": code,
                "lon": round(lon + rng.uniform(-0.002, 0.002), 5),
                "lat": round(lat + rng.uniform(-0.002, 0.002), 5),
                "population_covered": round(size * rng.uniform(0.85, 0.95)),
                "mqtt_topic": f"ews/ls/{county}/{village_id}/cmd",
                "language": language,
            }
        )

    per_village = largest_remainder(
        round(population / PEOPLE_PER_RECIPIENT), [float(s) for s in sizes]
    )
    recipients = []
    phone = first_phone
    for village, n_recipients in zip(villages, per_village, strict=True):
        for _ in range(n_recipients):
            recipients.append(
                {
                    "recipient_id": f"R{code}{len(recipients) + 1:04d}",
                    "phone": f"{PHONE_PREFIX}{phone:010d}",
                    "town_code": code,
                    "village_id": village["village_id"],
                    "drill": "true" if rng.random() < DRILL_SHARE else "false",
                    "language": village["language"],
                }
            )
            phone += 1
    return villages, loudspeakers, recipients


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate(towns_path: Path, out: Path) -> dict[str, int]:
    """Write villages.csv, loudspeakers.csv and recipients.csv; return counts."""
    towns = json.loads(towns_path.read_text(encoding="utf-8"))["features"]
    towns = sorted(towns, key=lambda t: t["properties"]["code"])
    villages: list[dict[str, Any]] = []
    loudspeakers: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    for town in towns:
        # Phone numbers: a block of 10,000 per town, numbered from the town
        # code (county digits 5-6, town digits 7-9), so that a town's numbers
        # stay put when another town changes.
        code = town["properties"]["code"]
        block = 1000 * int(code[4:6]) + int(code[6:9])
        v, ls, r = town_inventory(town, first_phone=block * 10_000)
        villages += v
        loudspeakers += ls
        recipients += r

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "villages.csv", villages)
    write_csv(out / "loudspeakers.csv", loudspeakers)
    write_csv(out / "recipients.csv", recipients)
    return {
        "towns": len(towns),
        "villages": len(villages),
        "loudspeakers": len(loudspeakers),
        "recipients": len(recipients),
        "population": sum(v["population"] for v in villages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=Path, default=TOWNS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    counts = generate(args.towns, args.out)
    print(", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
