"""An area_rain record with more rain than has ever fallen issued a warning.

The rainstorm agent trusted ``rain.area``, also an input topic (HKO point
gauges are replayed onto it), so 1e6 mm in 10 minutes raised a red warning.
The step and every window total are now held to the rain envelope of
:mod:`models.quality` (422 mm in 1 h; about 180 mm in 10 min).
"""

from __future__ import annotations

import pytest

from models.rules import load_ruleset
from pipeline.agents.scoring import RainstormScorer
from schemas.errors import PhysicalError

RECORD = {
    "schema": "area_rain/1",
    "area_code": "441202001",
    "time": "2020-10-31T05:00:00Z",
    "step_s": 600,
    "rain_mm": 2.0,
    "statistic": "q90",
    "pixels": 40,
    "source": "bom-66",
    "accumulations_mm": {"1": 10.0, "3": 30.0, "6": 40.0, "12": 50.0},
}


def scorer() -> RainstormScorer:
    return RainstormScorer(load_ruleset("cma-rainstorm"), {}, "Exercise")


def test_a_step_beyond_the_envelope_is_refused() -> None:
    with pytest.raises(PhysicalError, match="441202001 .* above the"):
        scorer().score(dict(RECORD, rain_mm=1e6), None, None)


def test_a_window_total_beyond_the_envelope_is_refused() -> None:
    # 422 mm * 3 ** 0.475 = 711.1 mm can fall in 3 h; 800 cannot
    totals = dict(RECORD["accumulations_mm"], **{"3": 800.0})
    with pytest.raises(PhysicalError, match="3 h"):
        scorer().score(dict(RECORD, accumulations_mm=totals), None, None)


def test_a_heavy_but_possible_storm_still_warns() -> None:
    totals = {"1": 60.0, "3": 120.0, "6": 130.0, "12": 140.0}
    _, _, events = scorer().score(dict(RECORD, accumulations_mm=totals), None, None)
    assert [e["level"] for e in events] == ["red"]  # >= 100 mm in 3 h
