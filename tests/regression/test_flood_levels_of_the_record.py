"""The flood agent read every station's levels as the colour scheme.

``gauge_obs/1`` carries no level scheme, and the scorer assumed ``colour``:
a station declaring the Chinese levels (warning, guarantee, record) made
``models.flood.ladder`` raise ConfigError, which the agent filed as a bug,
and levels that fall with the colour did the same.
"""

from __future__ import annotations

import pytest

from models.flood import FloodParams
from models.lifecycle import Timing
from pipeline.agents.scoring import FloodScorer
from schemas.errors import SchemaError

RECORD = {
    "schema": "gauge_obs/1",
    "source": "test",
    "station": {
        "id": "S1",
        "name": "a section",
        "river": "West River",
        "lon": 112.4,
        "lat": 23.1,
        "tz": "Asia/Shanghai",
        "unit": "m",
        "levels": {"warning": 7.0, "guarantee": 8.5, "record": 9.38},
        "area_codes": ["441202001"],
    },
    "time": "2023-07-15T10:00:00+08:00",
    "stage": 7.2,
}


def scorer() -> FloodScorer:
    timing = Timing(valid_h=12.0, hold_min=60.0, extend_before_min=60.0)
    return FloodScorer(FloodParams(), timing, {}, "Exercise")


def test_chinese_levels_are_scored_by_their_own_scheme() -> None:
    _, events = scorer().score(RECORD, None)
    # 7.2 m is at or above the warning level (7.0 m): yellow
    assert [(e["action"], e["level"]) for e in events] == [("issue", "yellow")]
    assert events[0]["trigger"]["level_scheme"] == "cn_hydro"


def test_levels_that_fall_with_the_colour_are_bad_input() -> None:
    station = dict(RECORD["station"], levels={"red": 1.0, "blue": 9.0})
    with pytest.raises(SchemaError, match="station S1 .* levels of the record"):
        scorer().score(dict(RECORD, station=station), None)
