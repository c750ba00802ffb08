"""The rainstorm rule sets at and around every threshold."""

from __future__ import annotations

import pytest

from models.rainstorm import assess
from models.rules import load_ruleset, parse_ruleset
from schemas.errors import ConfigError

CMA = load_ruleset("cma-rainstorm")
HKO = load_ruleset("hko-rainstorm")


def totals(h1=5.0, h3=0.0, h6=0.0, h12=0.0):
    return {1.0: h1, 3.0: h3, 6.0: h6, 12.0: h12}


@pytest.mark.parametrize(
    ("window", "value", "expected"),
    [
        (12.0, 49.9, None),
        (12.0, 50.0, "blue"),
        (12.0, 50.1, "blue"),
        (6.0, 49.9, None),
        (6.0, 50.0, "yellow"),
        (6.0, 50.1, "yellow"),
        (3.0, 49.9, None),
        (3.0, 50.0, "orange"),
        (3.0, 50.1, "orange"),
        (3.0, 99.9, "orange"),
        (3.0, 100.0, "red"),
        (3.0, 100.1, "red"),
    ],
)
def test_cma_thresholds_are_inclusive(window, value, expected):
    obs = totals()
    obs[window] = value
    assert assess(CMA, obs, None).level == expected


def test_cma_highest_met_criterion_wins():
    obs = totals(h1=20.0, h3=60.0, h6=70.0, h12=80.0)
    result = assess(CMA, obs, None)
    assert result.level == "orange"
    assert result.deciding.window_h == 3.0
    assert result.value_mm == 60.0


def test_cma_rain_that_stopped_holds_no_warning():
    # 60 mm fell in 3 h but the last hour brought 0.5 mm: "rain may continue"
    # is not met, so no signal is issued (or kept).
    obs = totals(h1=0.5, h3=60.0, h6=60.0, h12=60.0)
    assert assess(CMA, obs, None).level is None
    assert assess(CMA, obs, "orange").level is None


def test_cma_hysteresis_keeps_a_hovering_value():
    below = totals(h3=46.0, h6=46.0, h12=46.0)
    # 46 mm raises nothing, but keeps orange (>= 0.9 x 50 = 45 mm) ...
    assert assess(CMA, below, None).level is None
    assert assess(CMA, below, "orange").level == "orange"
    # ... and 44.9 mm gives it up.
    fallen = totals(h3=44.9, h6=44.9, h12=44.9)
    assert assess(CMA, fallen, "orange").level is None


def test_cma_downgrade_to_a_lower_met_level():
    obs = totals(h3=30.0, h6=55.0, h12=55.0)
    assert assess(CMA, obs, "orange").level == "yellow"


def test_cma_forecast_branch_raises_before_the_rain_has_fallen():
    obs = totals(h1=10.0, h3=30.0, h6=30.0, h12=30.0)
    fc = {1.0: 15.0, 3.0: 52.0, 6.0: 60.0, 12.0: 60.0}
    result = assess(CMA, obs, None, forecast_mm=fc)
    assert result.level == "orange"
    assert result.branch == "forecast"


@pytest.mark.parametrize(
    ("hourly", "expected", "signal"),
    [
        (29.9, None, None),
        (30.0, "yellow", "amber"),
        (49.9, "yellow", "amber"),
        (50.0, "orange", "red"),
        (69.9, "orange", "red"),
        (70.0, "red", "black"),
    ],
)
def test_hko_signals(hourly, expected, signal):
    result = assess(HKO, {1.0: hourly}, None)
    assert result.level == expected
    if signal:
        assert HKO.signal(result.level) == signal


def test_rule_set_errors_name_the_field():
    with pytest.raises(ConfigError, match="criterion level"):
        parse_ruleset(
            {
                "name": "x",
                "levels": ["blue"],
                "criteria": [{"level": "red", "window_h": 3, "threshold_mm": 1}],
            }
        )
    with pytest.raises(ConfigError, match="no"):
        load_ruleset("no-such-rules")
