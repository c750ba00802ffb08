"""Area rain for a town the region lacks is refused where it comes in.

It used to be scored and warned, and only the CAP agent refused the warning
it gave, naming the warning rather than the record that caused it.
"""

from __future__ import annotations

import pytest

from models.region import default_region
from models.rules import load_ruleset
from pipeline.agents.scoring import RainstormScorer
from schemas.errors import UnknownReferenceError

# 112 mm in 3 h, far above the red criterion of the CMA rule set
RECORD = {
    "schema": "area_rain/1",
    "source": "radar",
    "area_code": "441299999",
    "time": "2025-06-01T03:00:00+00:00",
    "step_s": 360,
    "rain_mm": 9.0,
    "statistic": "p90",
    "accumulations_mm": {"1": 60.0, "3": 112.0, "6": 112.0, "12": 112.0, "24": 112.0},
}


def scorer() -> RainstormScorer:
    names = {t.code: t.name for t in default_region().towns}
    return RainstormScorer(
        load_ruleset("cma-rainstorm"), names, "Exercise", frozenset(names)
    )


def test_area_rain_for_a_town_the_region_lacks_is_refused():
    with pytest.raises(
        UnknownReferenceError, match="'441299999'.*no area of that code"
    ):
        scorer().score(RECORD, None, None)


def test_the_same_rain_for_a_town_of_the_region_is_warned():
    code = default_region().towns[0].code
    _, _, events = scorer().score(dict(RECORD, area_code=code), None, None)
    # the CMA red signal: 100 mm or more in 3 h
    assert [(ev["area"]["codes"], ev["level"]) for ev in events] == [([code], "red")]
