"""Stage forecast and crossing times; the Miho Bridge flood warned ahead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from connectors.scenario import load_scenario
from models.flood import FloodParams
from models.lifecycle import Timing
from models.rules import load_ruleset
from models.stage_forecast import (
    CrossingParams,
    StageModel,
    crossings,
    forecast_colour,
    hourly_windows,
    lag_features,
    load_model,
    rate_forecast,
    rate_of_rise,
    save_model,
)
from pipeline.agents.scoring import FloodScorer
from pipeline.settings import Settings
from pipeline.verify import verify_records
from schemas.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
H = 3600.0
STEPS = [("blue", 5.0), ("yellow", 7.0), ("orange", 8.0), ("red", 9.38)]


def test_rate_of_rise_and_crossing_times_by_hand():
    history = [(0.0, 6.45), (H, 6.75)]  # Miho Bridge, 07-14 16:00 and 17:00
    rise = rate_of_rise(history, 1.0)
    assert rise == pytest.approx(0.30)
    leads = np.arange(1.0, 7.0)
    when = crossings(H, 6.75, leads, rate_forecast(6.75, rise, leads), STEPS)
    # 7.0 m in 0.25 / 0.30 h = 50 min, 8.0 m in 1.25 / 0.30 h = 4 h 10 min
    assert (when["yellow"] - H) / 60 == pytest.approx(50.0)
    assert (when["orange"] - H) / 60 == pytest.approx(250.0)
    assert "red" not in when  # 9.38 m needs 8.8 h
    assert "blue" not in when  # already above
    assert forecast_colour(H, when, STEPS, 3.0) == ("yellow", when["yellow"])
    assert forecast_colour(H, when, STEPS, 6.0) == ("orange", when["orange"])
    assert rate_of_rise(history[-1:], 1.0) is None


def test_lag_features_are_changes_of_stage():
    x = lag_features(np.array([1.0, 1.5, 2.5, 4.0]), 3)
    # now minus 1, 2, 3 h before; then the differences newest first
    assert x.tolist() == [[1.5, 2.5, 3.0, 1.5, 1.0, 0.5]]
    feats, targets = hourly_windows(np.arange(10.0), 3, 2)
    assert feats.shape == (5, 6) and targets.tolist() == [[1.0, 2.0]] * 5


def test_a_model_round_trips_through_skops(tmp_path):
    rng = np.random.default_rng(0)
    stages = np.cumsum(rng.normal(0.05, 0.1, 200))
    x, y = hourly_windows(stages, 3, 2)
    model = StageModel.fit(x, y, 3)
    path = save_model(model, tmp_path / "m.skops", {"events": 0})
    back = load_model(tmp_path / "m.skops")
    assert np.allclose(back.predict_change(x), model.predict_change(x))
    assert json.loads(path.read_text())["events"] == 0
    with pytest.raises(ConfigError):
        load_model(tmp_path / "missing.skops")


def test_the_bundled_model_record_says_it_is_one_event():
    record = json.loads((REPO / "data/models/stage_gbr_miho.json").read_text())
    assert record["data"]["events"] == 1
    assert record["used_by_pipeline"] is False
    assert record["format"] == "skops"
    scores = record["holdout_rmse_m_by_lead_h"]
    assert len(scores["gradient_boosting"]) == len(scores["rate_of_rise"]) == 6
    load_model(REPO / "data/models/stage_gbr_miho.skops")


def miho_run(crossing: CrossingParams | None):
    settings = Settings()
    scorer = FloodScorer(
        FloodParams(),
        Timing(
            valid_h=settings.flood_valid_h,
            hold_min=settings.flood_hold_min,
            extend_before_min=settings.flood_extend_before_min,
        ),
        {},
        "Exercise",
        crossing,
    )
    scenario = load_scenario(REPO / "data/scenarios/zhaoqing-exercise")
    state, events, gauges = None, [], []
    for rec in scenario.records():
        if rec.topic == "obs.gauge":
            gauges.append(rec.value)
            state, evs = scorer.score(rec.value, state)
            events += evs
    report = verify_records(events, [], gauges, load_ruleset("cma-rainstorm"))
    return events, report.summary()["flood"]


def test_miho_bridge_every_crossing_is_warned_an_hour_ahead():
    events, flood = miho_run(CrossingParams())
    # the published crossings (SOURCES.md): 7.0 m at 07-14 19:00 and again
    # at 07-15 03:00, 8.0 m at 05:00, 9.38 m at 07:00 KST
    times = [(c["colour"], c["time"]) for c in flood["by_crossing"]]
    assert times == [
        ("yellow", "2023-07-14T10:00:00+00:00"),
        ("yellow", "2023-07-14T18:00:00+00:00"),
        ("orange", "2023-07-14T20:00:00+00:00"),
        ("red", "2023-07-14T22:00:00+00:00"),
    ]
    assert flood["issuance_rate"] == 1.0
    assert flood["min_lead_min"] >= 60.0
    # the re-crossing: 6.62 m at 02:00 rising 0.12 m/h reaches 7.0 m in
    # 3.2 h, within the 6 h horizon, so yellow is issued an hour ahead
    leads = [c["lead_min"] for c in flood["by_crossing"]]
    assert leads[1] == 60.0
    forecast = [e for e in events if e["trigger"].get("branch") == "forecast"]
    assert forecast and all("expected_crossing" in e["trigger"] for e in forecast)


def test_without_the_crossing_forecast_no_crossing_is_warned_ahead():
    _, flood = miho_run(None)
    assert flood["crossings"] == 4 and flood["warned"] == 0


def test_a_forecast_flood_warning_is_likely_and_says_when(tmp_path):
    from lxml import etree

    from connectors.cap_writer import build_alert
    from models.region import default_region

    events, _ = miho_run(CrossingParams())
    issue = next(e for e in events if e["trigger"].get("branch") == "forecast")
    issue = dict(issue, area={"codes": ["441202001"], "names": ["城东街道"]})
    towns = [default_region().town("441202001")]
    _, xml = build_alert(
        issue,
        towns=towns,
        sender="ews@zhaoqing.example",
        agency_code="44120041600000",
        previous_identifiers=[],
        previous_sent=[],
    )
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    root = etree.fromstring(xml)
    assert root.xpath("//cap:info/cap:certainty/text()", namespaces=ns) == [
        "Likely",
        "Likely",
    ]
    expected = issue["trigger"]["expected_crossing"]
    for text in root.xpath("//cap:info/cap:description/text()", namespaces=ns):
        assert expected in text
