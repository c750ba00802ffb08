"""The bundled SYNTHETIC Zhaoqing exercise inventory: consistent and up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from models.channels import load_inventory

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "data" / "inventory" / "zhaoqing-exercise"
TOWNS = ROOT / "data" / "regions" / "zhaoqing" / "towns.geojson"
GENERATOR = ROOT / "data" / "inventory" / "generate.py"


@pytest.fixture(scope="module")
def towns() -> dict[str, int]:
    features = json.loads(TOWNS.read_text(encoding="utf-8"))["features"]
    return {
        f["properties"]["code"]: int(f["properties"]["population_est"])
        for f in features
    }


def test_villages_add_up_to_the_town_estimates(towns: dict[str, int]):
    inventory = load_inventory(FOLDER)
    by_town = Counter()
    for village in inventory.villages.values():
        by_town[village.town_code] += village.population
    assert dict(by_town) == towns


def test_recipients_and_loudspeakers_follow_the_populations(towns: dict[str, int]):
    inventory = load_inventory(FOLDER)
    per_town = Counter(r.town_code for r in inventory.recipients)
    # One recipient per 1,000 persons of a town, rounded.
    assert {code: per_town.get(code, 0) for code in towns} == {
        code: round(pop / 1000) for code, pop in towns.items()
    }
    # One loudspeaker per village, covering 85-95 % of it.
    assert sorted(ls.village_id for ls in inventory.loudspeakers) == sorted(
        inventory.villages
    )
    for ls in inventory.loudspeakers:
        population = inventory.villages[ls.village_id].population
        assert 0.85 * population - 1 <= ls.population_covered <= 0.95 * population + 1


def test_phone_numbers_are_fictitious_and_unique():
    inventory = load_inventory(FOLDER)
    phones = [r.phone for r in inventory.recipients]
    assert all(p.startswith("+999") for p in phones)
    assert len(set(phones)) == len(phones)


def test_readme_says_synthetic_and_fictitious():
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "fictitious" in readme


def test_the_generator_reproduces_the_bundled_files(tmp_path: Path):
    subprocess.run(
        [sys.executable, str(GENERATOR), "--towns", str(TOWNS), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("villages.csv", "loudspeakers.csv", "recipients.csv"):
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name
