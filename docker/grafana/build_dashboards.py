"""Write the Grafana dashboards of ews and the county gazetteer of the map.

    .venv/bin/python docker/grafana/build_dashboards.py

Dashboards are code: this script is their source and the JSON files under
``dashboards/`` are its output, kept in the repository so Grafana's file
provisioning (``provisioning/dashboards/ews.yml``) reads them as they are.
``tests/unit/test_dashboards.py`` checks that the files are what this script
writes, that every query parses and that every metric named is one ews
exports. Queries use fixed windows (``[5m]``), no Grafana macros, so
``promtool`` can check them.

Four dashboards: pipeline health (``ews-overview``: throughput, lag,
latency, dead letters; one query per panel), warnings in force (with a map),
dissemination (coverage per alert over time, gateway health) and the
emergency plan's targets (accuracy and POD 80 %, lead time 20 min, flood
issuance 100 %, reach 95 %), drawn as threshold lines.

The map is a Geomap panel of the highest level in force per county: metric
labels must stay low in cardinality, so no town code is ever a label and
the 104 towns cannot be drawn one by one; the 8 counties (``county`` label
of ``ews_county_warning_level`` and ``ews_warned_towns``) can. Each county
is a marker at the centroid of its towns, looked up in
``gazetteer/zhaoqing-counties.json``, which compose mounts into Grafana's
``public/gazetteer``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from shapely.ops import unary_union

from models.region import DEFAULT_REGION, default_region

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "ews-prometheus"}
GAZETTEER = "public/gazetteer/zhaoqing-counties.json"
LEVEL_STEPS = [
    {"color": "green", "value": None},
    {"color": "blue", "value": 1},
    {"color": "yellow", "value": 2},
    {"color": "orange", "value": 3},
    {"color": "red", "value": 4},
]


def panel(
    title: str,
    *queries: str | tuple[str, str] | dict,
    kind: str = "timeseries",
    unit: str = "short",
    description: str = "",
    line_at: float | None = None,
    below_is_bad: bool = True,
    w: int = 12,
    h: int = 8,
    **fields: Any,
) -> dict:
    """A panel of ``queries`` (expr, or expr and legend, or a whole target).

    ``line_at`` draws the plan's target as a threshold line.
    """
    targets = []
    for n, q in enumerate(queries):
        q = {"expr": q} if isinstance(q, str) else q
        q = {"expr": q[0], "legendFormat": q[1]} if isinstance(q, tuple) else q
        targets.append({"refId": "ABCDEFGH"[n], "legendFormat": "", **q})
    defaults: dict[str, Any] = {"unit": unit}
    if line_at is not None:
        bad, good = ("red", "green") if below_is_bad else ("green", "red")
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [
                {"color": bad, "value": None},
                {"color": good, "value": line_at},
            ],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    if unit == "percentunit":
        defaults.update(min=0, max=1)
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": targets,
        **fields,
    }


def dashboard(uid: str, title: str, panels: list[dict]) -> dict:
    """A dashboard with ``panels`` laid out left to right, top to bottom."""
    x = y = row_h = 0
    for n, p in enumerate(panels, start=1):
        pos = p["gridPos"]
        if x + pos["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        pos.update(x=x, y=y)
        x, row_h = x + pos["w"], max(row_h, pos["h"])
        p["id"] = n
    return {
        "uid": uid,
        "title": title,
        "tags": ["ews"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def p95(metric: str, by: str) -> str:
    return f"histogram_quantile(0.95, sum by (le, {by}) (rate({metric}_bucket[5m])))"


def overview() -> dict:
    lagging = (
        "max by (group, topic) (ews_group_offset_unchanged_seconds"
        " and on (group, topic, partition) ews_group_lag_records > 0)"
    )
    dead = (
        "sum by (source, reason_class) (rate(ews_deadletter_topic_records_total[5m]))"
    )
    return dashboard(
        "ews-overview",
        "ews pipeline health",
        [
            panel(
                "Records consumed per second",
                ("sum by (topic) (rate(ews_records_consumed_total[5m]))", "{{topic}}"),
                unit="ops",
            ),
            panel(
                "Consumer lag (from the broker)",
                (
                    "sum by (group, topic) (ews_group_lag_records)",
                    "{{group}} {{topic}}",
                ),
                description="End offset minus committed offset, by `ews lag-exporter`.",
            ),
            panel(
                "Seconds since the committed offset advanced, where records wait",
                (lagging, "{{group}} {{topic}}"),
                unit="s",
                description="Above 120 s the stalled-consumer alert fires.",
                line_at=120,
                below_is_bad=False,
            ),
            panel(
                "Partitions owned per worker",
                (
                    "count by (instance, topic) (ews_partition_committed_offset)",
                    "{{instance}} {{topic}}",
                ),
            ),
            panel(
                "Observation to warning event, 95th percentile",
                (p95("ews_observation_to_warning_seconds", "hazard"), "{{hazard}}"),
                unit="s",
            ),
            panel(
                "Warning event to CAP alert, 95th percentile",
                (p95("ews_warning_to_cap_seconds", "hazard"), "{{hazard}}"),
                unit="s",
            ),
            panel(
                "Dead letters per second, by source and reason",
                (dead, "{{source}} {{reason_class}}"),
                unit="ops",
            ),
            panel(
                "Dead letters (1 h)",
                "sum(increase(ews_deadletter_topic_records_total[1h]))",
                kind="stat",
            ),
            panel("Workers up", 'sum(up{job="ews-worker"})', kind="stat", w=6),
            panel("Broker answers", "min(ews_broker_up)", kind="stat", w=6),
            panel(
                "Rebalances (1 h)",
                "sum(increase(ews_rebalances_total[1h]))",
                kind="stat",
                w=6,
            ),
            panel(
                "Worker memory",
                ('process_resident_memory_bytes{job="ews-worker"}', "{{instance}}"),
                unit="bytes",
                w=6,
            ),
        ],
    )


def level_map() -> dict:
    layer = {
        "type": "markers",
        "name": "Level in force",
        "location": {"mode": "lookup", "lookup": "county", "gazetteer": GAZETTEER},
        "config": {
            "showLegend": True,
            "style": {
                "color": {"field": "Value", "fixed": "green"},
                "size": {"fixed": 18},
                "opacity": 0.8,
                "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
            },
        },
        "tooltip": True,
    }
    out = panel(
        "Highest level in force per county",
        {
            "expr": "max by (county) (ews_county_warning_level)",
            "format": "table",
            "instant": True,
        },
        kind="geomap",
        description="One marker per county at the centroid of its towns; "
        "colour: 0 none, 1 blue, 2 yellow, 3 orange, 4 red.",
        h=14,
        options={
            "view": {"id": "coords", "lat": 23.4, "lon": 112.2, "zoom": 7.5},
            "controls": {"showZoom": True, "mouseWheelZoom": True},
            "basemap": {"type": "default", "name": "Basemap"},
            "layers": [layer],
        },
    )
    out["fieldConfig"]["defaults"].update(
        color={"mode": "thresholds"},
        thresholds={"mode": "absolute", "steps": LEVEL_STEPS},
    )
    return out


def warnings() -> dict:
    radar_age = (
        'time() - max(ews_topic_last_record_timestamp_seconds{topic="obs.radar"})'
    )
    return dashboard(
        "ews-warnings",
        "ews warnings in force",
        [
            level_map(),
            panel(
                "Towns under a warning, per county",
                {
                    "expr": "sum by (county, hazard, level) (ews_warned_towns) > 0",
                    "format": "table",
                    "instant": True,
                },
                kind="table",
                h=14,
            ),
            panel(
                "Warnings in force by hazard and level",
                (
                    "sum by (hazard, level) (ews_active_warnings)",
                    "{{hazard}} {{level}}",
                ),
            ),
            panel(
                "Decisions (1 h) by hazard, action and level",
                (
                    "sum by (hazard, action, level) (increase(ews_warnings_total[1h]))",
                    "{{hazard}} {{action}} {{level}}",
                ),
            ),
            panel(
                "CAP alerts (1 h)",
                (
                    "sum by (hazard, msg_type) (increase(ews_cap_alerts_total[1h]))",
                    "{{hazard}} {{msg_type}}",
                ),
            ),
            panel(
                "Radar: age of the newest frame",
                (radar_age, "age"),
                unit="s",
                description="The alert fires beyond two radar cycles.",
            ),
        ],
    )


def dissemination() -> dict:
    return dashboard(
        "ews-dissemination",
        "ews dissemination",
        [
            panel(
                "Coverage of the alerts going out (lowest per hazard and level)",
                (
                    "min by (hazard, level) (ews_alert_coverage_ratio)",
                    "{{hazard}} {{level}}",
                ),
                unit="percentunit",
                line_at=0.95,
                description="Share of the people of the area reached; the plan "
                "asks for 95 %.",
            ),
            panel(
                "Alerts going out, and past their deadline below 95 %",
                (
                    "sum by (hazard, level) (ews_alerts_in_dissemination)",
                    "{{hazard}} {{level}}",
                ),
                (
                    "sum by (hazard, level) (ews_alerts_late)",
                    "late {{hazard}} {{level}}",
                ),
            ),
            panel(
                "Gateways up",
                ("min by (channel, gateway) (ews_gateway_up)", "{{gateway}}"),
                kind="state-timeline",
            ),
            panel(
                "Sends per second by route and result",
                (
                    "sum by (route, result) (rate(ews_dispatch_sends_total[5m]))",
                    "{{route}} {{result}}",
                ),
                unit="ops",
            ),
            panel(
                "Receipts per second by channel and state",
                (
                    "sum by (channel, state) (rate(ews_dispatch_receipts_total[5m]))",
                    "{{channel}} {{state}}",
                ),
                unit="ops",
            ),
            panel(
                "Dissemination outcomes (1 d)",
                (
                    "sum by (msg_type, outcome) "
                    "(increase(ews_dispatch_alerts_total[1d]))",
                    "{{msg_type}} {{outcome}}",
                ),
            ),
            panel(
                "CAP alert to first delivery, 95th percentile",
                (p95("ews_cap_to_first_delivery_seconds", "channel"), "{{channel}}"),
                unit="s",
            ),
            panel(
                "Alert to 95 % of the people reached, 95th percentile",
                (
                    p95("ews_cap_to_coverage_target_seconds", "hazard"),
                    "from CAP sent, {{hazard}}",
                ),
                (
                    p95("ews_dispatch_seconds_to_target", "msg_type"),
                    "from taking the alert, {{msg_type}}",
                ),
                unit="s",
            ),
        ],
    )


def targets() -> dict:
    reach = (
        'sum(increase(ews_dispatch_alerts_total{outcome="reached"}[1d])) / '
        'sum(increase(ews_dispatch_alerts_total{outcome=~"reached|expired|exhausted"}'
        "[1d]))"
    )
    accuracy = 'ews_verification_accuracy_ratio{hazard="rainstorm"}'
    return dashboard(
        "ews-targets",
        "ews against the emergency plan",
        [
            panel(
                "Rainstorm warning accuracy (plan: at least 80 %)",
                (accuracy, "rainstorm"),
                unit="percentunit",
                line_at=0.8,
            ),
            panel(
                "Probability of detection (80 % line for reference)",
                ("ews_verification_pod_ratio", "{{hazard}}"),
                unit="percentunit",
                line_at=0.8,
                description="The plan sets no POD line; it is drawn at the "
                "accuracy target.",
            ),
            panel(
                "Lead time (plan: at least 20 minutes)",
                ("ews_verification_lead_time_seconds", "{{hazard}}"),
                unit="s",
                line_at=1200,
            ),
            panel(
                "Flood warning issuance at control sections (plan: 100 %)",
                ("ews_flood_issuance_ratio", "issuance"),
                unit="percentunit",
                line_at=1.0,
            ),
            panel(
                "Alerts that reached 95 % of their people (plan: 95 %)",
                (reach, "reached"),
                unit="percentunit",
                line_at=0.95,
                w=24,
            ),
        ],
    )


def gazetteer() -> list[dict]:
    """One point per county: the centroid of its towns (lon/lat degrees)."""
    region = default_region()
    english = {}
    with (DEFAULT_REGION.parent / "counties.csv").open(encoding="utf-8") as f:
        english = {row["code"]: row["name_en"] for row in csv.DictReader(f)}
    points = []
    for county in sorted(region.counties, key=lambda c: c.code):
        shape = unary_union([region.town(code).polygon for code in county.town_codes])
        centre = shape.centroid
        points.append(
            {
                "key": county.code,
                "name": english.get(county.code, county.name),
                "latitude": round(centre.y, 4),
                "longitude": round(centre.x, 4),
            }
        )
    return points


def build() -> dict[str, Any]:
    """Every file this script writes, by path relative to this folder."""
    return {
        "dashboards/ews-overview.json": overview(),
        "dashboards/ews-warnings.json": warnings(),
        "dashboards/ews-dissemination.json": dissemination(),
        "dashboards/ews-targets.json": targets(),
        "gazetteer/zhaoqing-counties.json": gazetteer(),
    }


def render(content: Any) -> str:
    return json.dumps(content, ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    for name, content in build().items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(content), encoding="utf-8")


if __name__ == "__main__":
    main()
