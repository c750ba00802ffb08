"""The demo scenario end to end through the real Kafka broker.

The expected warnings are worked out here from the data, independently of
the agents: the BoM frames are summed per pixel with xarray, the town
pixels taken with the same placement, and the CMA criteria applied to the
q90 of the town totals. The Miho Bridge sequence is the one its published
levels imply (see tests/unit/test_flood_rule.py).
"""

from __future__ import annotations

import glob
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from connectors.scenario import load_scenario
from models.region import default_region, pixel_masks
from pipeline.demo import DEFAULT_SCENARIO, run_demo
from pipeline.offline import score_scenario
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BOM = REPO / "data/samples/radar/bom_prcp-c10_66_20201031"
RANK = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}


@pytest.fixture(scope="module")
def demo(kafka_bootstrap, tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    summary = run_demo(
        base=Settings(bootstrap=kafka_bootstrap),
        home=home,
        summary_json=home / "summary.json",
    )
    return summary, home


@pytest.fixture(scope="module")
def reference():
    return score_scenario(load_scenario(DEFAULT_SCENARIO), Settings(archive_dir=""))


def town_q90_totals():
    """q90 over each town of the per-pixel 1-h and 3-h totals, every frame."""
    files = sorted(glob.glob(str(BOM / "*.nc")))
    frames = []
    for f in files:
        with xr.open_dataset(f) as ds:
            frames.append(ds["precipitation"].fillna(0.0).values)
    rain = np.stack(frames)  # (144, 512, 512) mm per 10 min
    cum = np.concatenate([np.zeros((1, *rain.shape[1:])), np.cumsum(rain, axis=0)])
    h1 = cum[6:] - cum[:-6]  # windows of 6 frames ending at frame 5, 6, ...
    h3 = cum[18:] - cum[:-18]  # windows of 18 frames ending at frame 17, ...

    from connectors.radar_bom import read_bom_frame

    grid = read_bom_frame(files[0]).grid
    lon, lat = load_scenario(DEFAULT_SCENARIO).feeds[0].options["place_at"]
    masks = pixel_masks(default_region(), grid, lon, lat)
    out = {}
    for code, idx in masks.items():
        if idx.size < 16:
            continue
        a3 = h3.reshape(h3.shape[0], -1)[:, idx]
        a1 = h1.reshape(h1.shape[0], -1)[:, idx][12:]  # align to the 3-h windows
        out[code] = (np.quantile(a1, 0.9, axis=1), np.quantile(a3, 0.9, axis=1))
    return out, float(h3.max()), float(h1.max())


def highest_level(events):
    best = defaultdict(lambda: -1)
    for ev in events:
        if ev["hazard"] == "rainstorm" and ev["level"]:
            code = ev["area_codes"][0] if "area_codes" in ev else ev["area"]["codes"][0]
            best[code] = max(best[code], RANK[ev["level"]])
    return dict(best)


def test_the_broker_run_makes_exactly_the_reference_decisions(demo, reference):
    summary, _ = demo
    got = [(w["event_id"], w["action"], w["level"]) for w in summary.warnings]
    want = sorted(
        ((e["event_id"], e["action"], e["level"]) for e in reference.events),
        key=lambda x: x[0],
    )
    assert sorted(got) == want
    assert len({w["event_id"] for w in summary.warnings}) == len(got)


def test_orange_towns_are_the_ones_the_radar_totals_imply(demo, reference):
    summary, _ = demo
    q90, wettest_3h, wettest_1h = town_q90_totals()
    # the event's wettest pixel: 88.7 mm in 3 h and 64.0 mm in 1 h
    assert wettest_3h == pytest.approx(88.7, abs=0.05)
    assert wettest_1h == pytest.approx(64.0, abs=0.05)
    implied = {
        code for code, (h1, h3) in q90.items() if np.any((h3 >= 50.0) & (h1 >= 1.0))
    }
    warned = {c for c, r in highest_level(summary.warnings).items() if r >= 2}
    assert implied, "the storm placed over Zhaoqing reaches orange somewhere"
    # every town the observed totals put at orange is warned orange; the
    # nowcast may warn more towns, each on a forecast 3-h total >= 50 mm
    assert implied <= warned
    for code in warned - implied:
        assert any(
            ev["area"]["codes"] == [code]
            and ev["level"] == "orange"
            and ev["trigger"]["branch"] == "forecast"
            and ev["trigger"]["forecast_3h_mm"] >= 50.0
            for ev in reference.events
        ), code
    assert max(float(h3.max()) for _, h3 in q90.values()) < 100.0
    assert all(
        w["level"] != "red" for w in summary.warnings if w["hazard"] == "rainstorm"
    )


def test_flood_course_at_the_west_river_section(demo):
    summary, _ = demo
    flood = [
        (w["action"], w["level"])
        for w in summary.warnings
        if w["hazard"] == "flood" and w["action"] != "extend"
    ]
    # Each colour is issued when the stage reaches its level or when the
    # rise of the last hour would carry it there within 6 h (KST):
    assert flood == [
        ("issue", "blue"),  # 07-14 06:00, 3.78 m rising 0.34 m/h: 5.0 m in 3.6 h
        ("upgrade", "yellow"),  # 10:00, 5.06 m rising 0.35 m/h: 7.0 m in 5.5 h
        ("upgrade", "orange"),  # 16:00, 6.45 m rising 0.29 m/h: 8.0 m in 5.3 h
        ("downgrade", "yellow"),  # 19:00, 7.02 m rising 0.09 m/h: 8.0 m in 11 h
        ("downgrade", "blue"),  # 22:00, 6.86 m, under 7.0 m less 0.1 m
        ("upgrade", "yellow"),  # 07-15 02:00, 6.62 m rising 0.12 m/h: 3.2 h
        ("upgrade", "red"),  # 03:00, 7.02 m rising 0.40 m/h: 9.38 m in 5.9 h
        ("downgrade", "orange"),  # 16:00, 9.18 m, under 9.38 m less 0.1 m
        ("downgrade", "yellow"),  # 22:00, 7.83 m
        ("downgrade", "blue"),  # 07-16 02:00, 6.69 m
        ("cancel", None),  # 10:00, 4.75 m
        ("issue", "blue"),  # 07-18 14:00, 3.21 m rising 0.30 m/h: 5.0 m in 6.0 h
        ("cancel", None),  # 18:00, 4.16 m rising 0.13 m/h: 6.5 h, the hold over
    ]


def test_every_alert_is_published_once_and_valid(demo):
    summary, home = demo
    assert summary.cap_published == len(summary.warnings)
    assert summary.cap_valid == summary.cap_published
    assert summary.duplicates == 0
    assert summary.deadletters == []
    msg_types = {w["action"]: w["msgType"] for w in summary.warnings}
    assert msg_types["issue"] == "Alert" and msg_types["cancel"] == "Cancel"
    assert msg_types["upgrade"] == msg_types["downgrade"] == "Update"
    archived = list(home.glob("demo-*/cap/*.xml"))
    assert len(archived) == summary.cap_published
    assert all(b"<status>Exercise</status>" in p.read_bytes() for p in archived)


def test_summary_json_has_the_documented_fields(demo):
    import json

    _, home = demo
    data = json.loads((home / "summary.json").read_text(encoding="utf-8"))
    assert {"warnings", "cap", "deadletter"} <= set(data)
    first = data["warnings"][0]
    assert {
        "hazard",
        "area",
        "level",
        "action",
        "msgType",
        "sent",
        "identifier",
    } <= set(first)
    assert data["cap"]["published"] == data["cap"]["valid"] == len(data["warnings"])
    assert data["deadletter"]["count"] == 0


def test_reference_settings_are_the_demo_defaults():
    # the reference above scores with default timings: guard against drift
    assert replace(Settings(), archive_dir="") == Settings(archive_dir="")


def test_the_fire_and_geological_hazards_reach_cap_and_the_dispatcher(demo):
    """The other two hazards of the exercise (see its manifest).

    Forest fire: the cffdrs weather as a Guangning station, moved to 2024;
    its FWI is computed here with the FWI model alone at the station's
    latitude, and the red day is the one day at or above the class-5
    breakpoint (33). Geological: the Huaicheng slope site's warnings fall
    within its rain and sensor feeds (2025-03), and the event placed east of
    Sihui raises exactly the towns within 50 km of it, blue, until a
    cancel 72 h or more after it.
    """
    import csv
    import json
    from datetime import datetime, timedelta

    from pyproj import Geod

    from models import fwi

    summary, home = demo
    by_hazard = defaultdict(list)
    for w in summary.warnings:
        by_hazard[w["hazard"]].append(w)
    assert set(by_hazard) == {"rainstorm", "flood", "forest_fire", "landslide"}

    guangning = [t.code for t in default_region().towns if t.county_code == "441223"]
    fire = by_hazard["forest_fire"]
    assert all(w["area_codes"] == guangning for w in fire)
    state, days_33 = fwi.FwiState.start(), []
    with (REPO / "data/samples/fire/station_noon_vw85.csv").open() as fh:
        for row in csv.DictReader(fh):
            state, codes = fwi.step(
                state,
                float(row["temp_c"]),
                float(row["rh_pct"]),
                float(row["wind_kmh"]),
                float(row["rain_mm"]),
                int(row["date"][5:7]),
                23.63,
            )
            if codes.fwi >= 33.0:
                days_33.append("2024" + row["date"][4:])
    red = [w["observed_at"][:10] for w in fire if w["level"] == "red"]
    assert red == days_33 == ["2024-05-07"]

    huaicheng = [w for w in by_hazard["landslide"] if w["area_codes"] == ["441224001"]]
    assert huaicheng and all(
        "2025-03-01" <= w["observed_at"][:10] <= "2025-04-01" for w in huaicheng
    )
    assert max(RANK[w["level"]] for w in huaicheng if w["level"]) == RANK["orange"]

    geod = Geod(ellps="WGS84")
    placed = datetime(2025, 4, 9, 3, 20).isoformat()
    near = set()
    for town in default_region().towns:
        point = town.polygon.representative_point()
        if geod.inv(113.10, 23.45, point.x, point.y)[2] / 1000.0 <= 50.0:
            near.add(town.code)
    raised = defaultdict(list)
    for w in by_hazard["landslide"]:
        if w["observed_at"] >= "2025-04":
            raised[w["area_codes"][0]].append(w)
    assert set(raised) == near and len(near) == 6
    for steps in raised.values():
        assert (steps[0]["action"], steps[0]["level"]) == ("issue", "blue")
        assert steps[0]["observed_at"].startswith(placed)
        assert steps[-1]["action"] == "cancel"
        lifted = datetime.fromisoformat(steps[-1]["observed_at"])
        assert lifted >= datetime.fromisoformat(placed + "+00:00") + timedelta(hours=72)

    for w in fire + by_hazard["landslide"]:
        xml = (next(home.glob("demo-*/cap")) / f"{w['identifier']}.xml").read_text()
        category = "Fire" if w["hazard"] == "forest_fire" else "Geo"
        assert f"<category>{category}</category>" in xml
    dispatched = {d["hazard"] for d in summary.extra["dispatch"]}
    assert {"forest_fire", "landslide"} <= dispatched
    assert json.loads((home / "summary.json").read_text())["deadletter"]["count"] == 0
