"""The Grafana dashboards: generated, valid, parsable, naming only ews's metrics.

The queries are checked with ``promtool check rules`` (Debian's prometheus
package) on a rules file made of one recording rule per query; the metric
names they use are compared with the names the ews registries declare.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from models.region import default_region
from pipeline.metrics import make_lag_metrics, make_metrics

GRAFANA = Path(__file__).resolve().parents[2] / "docker" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
# what Prometheus adds to every scrape
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "ALERTS"}


def load_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_names() -> set[str]:
    """Every series name ews exports (worker, dispatcher, lag exporter)."""
    worker = make_metrics()
    registries = [worker.registry, make_lag_metrics().registry]
    if importlib.util.find_spec("pipeline.dispatch.metrics") is not None:
        from pipeline.dispatch.metrics import make_dispatch_metrics

        reg = CollectorRegistry()
        make_dispatch_metrics(reg)
        registries.append(reg)
    names = set(PROMETHEUS_OWN)
    for registry in registries:
        for family in registry.collect():
            for suffix in SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (ews_*, process_*, up)."""
    bare = re.sub(r'"[^"]*"|\'[^\']*\'', '""', expr)
    names = set(re.findall(r"\b((?:ews|process)_[a-zA-Z0-9_]+)\b", bare))
    names |= {"up"} if re.search(r"\bup\s*\{", bare) else set()
    return names


def panel_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def promtool_check(exprs: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"ews:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    return subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )


def test_the_files_are_what_the_script_writes():
    builder = load_builder()
    built = builder.build()
    on_disk = {
        str(p.relative_to(GRAFANA))
        for p in GRAFANA.rglob("*.json")
        if "provisioning" not in p.parts
    }
    assert on_disk == set(built), "run docker/grafana/build_dashboards.py"
    for name, content in built.items():
        text = (GRAFANA / name).read_text(encoding="utf-8")
        assert text == builder.render(content), f"{name} is stale: run the script"


def test_four_dashboards_with_unique_ids():
    dashboards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert {d["uid"] for d in dashboards} == {
        "ews-overview",
        "ews-warnings",
        "ews-dissemination",
        "ews-targets",
    }
    for d in dashboards:
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids)
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "ews-prometheus"
            assert p["targets"], p["title"]
            pos = p["gridPos"]
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_parses(path: Path, tmp_path: Path):
    exprs = panel_exprs(json.loads(path.read_text()))
    result = promtool_check(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_a_broken_query_is_caught(tmp_path: Path):
    result = promtool_check(["sum by (hazard (ews_active_warnings)"], tmp_path)
    assert result.returncode != 0


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_metric_named_is_exported(path: Path):
    exported = exported_names()
    named = set().union(*map(metric_names, panel_exprs(json.loads(path.read_text()))))
    assert named
    assert named - exported == set()


def test_the_name_extraction_sees_names_and_ignores_strings():
    expr = (
        'sum by (le) (rate(ews_x_seconds_bucket{topic="ews_not_a_metric"}[5m]))'
        ' / on () up{job="ews-worker"}'
    )
    assert metric_names(expr) == {"ews_x_seconds_bucket", "up"}
    assert "ews_made_up_total" not in exported_names()


def test_the_plans_lines_are_drawn():
    targets = json.loads((GRAFANA / "dashboards" / "ews-targets.json").read_text())
    lines = {}
    for p in targets["panels"]:
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        lines[p["targets"][0]["expr"].split("{")[0].split("(")[-1]] = steps[1]["value"]
        assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    assert lines["ews_verification_accuracy_ratio"] == 0.8
    assert lines["ews_verification_lead_time_seconds"] == 20 * 60
    assert lines["ews_flood_issuance_ratio"] == 1.0
    assert 0.95 in lines.values()  # the share of alerts that reached 95 %


def test_the_map_has_a_point_in_every_county():
    warnings = json.loads((GRAFANA / "dashboards" / "ews-warnings.json").read_text())
    geomap = next(p for p in warnings["panels"] if p["type"] == "geomap")
    layer = geomap["options"]["layers"][0]
    assert layer["location"]["lookup"] == "county"
    assert "by (county)" in geomap["targets"][0]["expr"]
    gazetteer_path = layer["location"]["gazetteer"].removeprefix("public/gazetteer/")
    points = json.loads((GRAFANA / "gazetteer" / gazetteer_path).read_text())
    region = default_region()
    assert {p["key"] for p in points} == {c.code for c in region.counties}
    for point in points:
        county = next(c for c in region.counties if c.code == point["key"])
        shapes = [region.town(code).polygon for code in county.town_codes]
        lon = [b for s in shapes for b in (s.bounds[0], s.bounds[2])]
        lat = [b for s in shapes for b in (s.bounds[1], s.bounds[3])]
        assert min(lon) <= point["longitude"] <= max(lon), point
        assert min(lat) <= point["latitude"] <= max(lat), point


def test_compose_mounts_the_gazetteer_where_the_map_looks():
    compose = yaml.safe_load((GRAFANA.parent / "compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    wanted = "/usr/share/grafana/public/gazetteer/zhaoqing-counties.json"
    assert any(v.split(":")[1] == wanted for v in mounts)
