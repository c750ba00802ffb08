"""The nowcast in the radar agent: forecast_mm on real BoM frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.scenario import load_scenario
from models.region import default_region
from models.rules import load_ruleset
from pipeline.agents.radar import RadarAreas
from schemas import registry

SCENARIO = Path(__file__).resolve().parents[2] / "data/scenarios/zhaoqing-exercise"


@pytest.fixture(scope="module")
def frames():
    records = [r for r in load_scenario(SCENARIO).records() if r.topic == "obs.radar"]
    return [r.value for r in records[54:61]]  # 09:00-10:00 UTC, the storm on


def agent(nowcast="default"):
    rules = load_ruleset("cma-rainstorm")
    if nowcast == "default":
        return RadarAreas(default_region(), rules.area_statistic, rules.windows_h)
    return RadarAreas(default_region(), rules.area_statistic, rules.windows_h, None)


def test_forecast_totals_come_with_the_observed_ones(frames):
    areas = agent()
    for msg in frames[:-1]:
        areas.remember(msg)
    records = areas.areas(frames[-1])
    with_forecast = [r for r in records if "forecast_mm" in r]
    assert with_forecast, "a wet frame after enough frames gets a nowcast"
    for rec in records:
        registry.validate(rec, "area_rain/1")
    for rec in with_forecast:
        assert set(rec["forecast_mm"]) == set(rec["accumulations_mm"])
    # the 12-h window loses at most 40 min of fallen rain at the horizon and
    # gains the forecast, so somewhere it is at least the observed total
    assert any(
        r["forecast_mm"]["12"] >= r["accumulations_mm"]["12"] for r in with_forecast
    )


def test_the_same_frames_give_the_same_forecast(frames):
    def run():
        areas = agent()
        for msg in frames[:-1]:
            areas.remember(msg)
        return {r["area_code"]: r.get("forecast_mm") for r in areas.areas(frames[-1])}

    assert run() == run()


def test_no_forecast_from_a_first_frame_or_with_the_nowcast_off(frames, caplog):
    fresh = agent()
    with caplog.at_level("INFO", logger="pipeline.agents.radar"):
        first = fresh.areas(frames[0])
        fresh.areas(frames[1])
    assert all("forecast_mm" not in r for r in first)
    # said once, not once per frame
    assert sum("no nowcast" in m for m in caplog.messages) == 1
    off = agent(nowcast=None)
    for msg in frames[:-1]:
        off.remember(msg)
    assert all("forecast_mm" not in r for r in off.areas(frames[-1]))
