"""Slope sensor alarms on level and on rate, with hand-computed series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.slope_sensors import assess, parse_sensor_rule, theil_sen_per_h
from schemas.errors import ConfigError, PhysicalError, UnitError

T0 = datetime(2026, 5, 20, tzinfo=UTC)
QUARTER = timedelta(minutes=15)

CRACK = parse_sensor_rule(
    {
        "kind": "crack_width",
        "level": {"attention_mm": 10.0, "warning_mm": 20.0, "alarm_mm": 40.0},
        "rate": {
            "attention_mm_per_day": 2.0,
            "warning_mm_per_day": 5.0,
            "alarm_mm_per_day": 10.0,
        },
        "rate_window_h": 6,
        "min_readings": 8,
        "confirm_readings": 2,
    },
    "crack A",
)


def _times(n: int) -> list[datetime]:
    return [T0 + k * QUARTER for k in range(n)]


def test_rate_thresholds_are_converted_to_per_hour():
    assert CRACK.rates_per_h == pytest.approx((2 / 24, 5 / 24, 10 / 24))
    assert CRACK.unit == "mm"


def test_steady_opening_alarms_on_rate():
    """0.1 mm every 15 min is 0.4 mm/h = 9.6 mm/day: warning (5), not alarm (10)."""
    values = [5.0 + 0.1 * k for k in range(25)]
    result = assess(CRACK, _times(25), values)
    assert result.rate_per_h == pytest.approx(0.4)
    assert (result.level, result.level_name, result.by) == (2, "warning", "rate")
    assert result.readings_in_window == 25


def test_one_wild_reading_does_not_alarm():
    values = [5.0] * 24 + [35.0]
    result = assess(CRACK, _times(25), values)
    # 24 of the 300 pairs include the spike; the median slope stays 0
    assert result.rate_per_h == 0.0
    assert result.level == 0 and result.by is None
    # a two-point rate would have read 120 mm/h, far past the alarm rate
    two_point_per_h = (values[-1] - values[-2]) / 0.25
    assert two_point_per_h >= CRACK.rates_per_h[2]


def test_level_needs_confirming_readings():
    steady = [5.0] * 23
    assert assess(CRACK, _times(24), [*steady, 25.0]).level == 0
    confirmed = assess(CRACK, _times(25), [*steady, 25.0, 21.0])
    # both last readings >= 20 (warning); the rate over 6 h is still 0
    assert (confirmed.level, confirmed.by) == (2, "level")
    assert assess(CRACK, _times(25), [*steady, 45.0, 21.0]).level == 2


def test_rate_needs_enough_readings_over_the_window():
    # 4 readings over 45 min: fewer than 8 and less than half of 6 h
    result = assess(CRACK, _times(4), [1.0, 2.0, 3.0, 4.0])
    assert result.rate_per_h is None and result.level == 0
    # hourly readings: 7 in the last 6 h, fewer than min_readings
    hourly = [T0 + timedelta(hours=h) for h in range(12)]
    assert assess(CRACK, hourly, [float(h) for h in range(12)]).rate_per_h is None


def test_pore_pressure_rise_per_hour():
    rule = parse_sensor_rule(
        {
            "kind": "pore_pressure",
            "level": {"alarm_kpa": 15.0},
            "rate": {"attention_kpa_per_h": 1.0, "warning_kpa_per_h": 3.0},
            "rate_window_h": 3,
            "min_readings": 4,
        }
    )
    times = [T0 + timedelta(minutes=30 * k) for k in range(7)]
    # suction -8 kPa rising 1 kPa per 30 min: 2 kPa/h, attention
    result = assess(rule, times, [-8.0 + k for k in range(7)])
    assert result.rate_per_h == pytest.approx(2.0) and result.level == 1
    assert result.value == -2.0


def test_theil_sen_by_hand():
    # slopes of the 3 pairs: (3-1)/1 = 2, (2-1)/2 = 0.5, (2-3)/1 = -1 -> median 0.5
    times = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert theil_sen_per_h(times, [1.0, 3.0, 2.0]) == 0.5


@pytest.mark.parametrize(
    ("raw", "error", "word"),
    [
        ({"kind": "tilt"}, ConfigError, "kind"),
        ({"kind": "displacement", "level": {"attention_cm": 1.0}}, UnitError, "mm"),
        ({"kind": "water_content", "rate": {"alarm_pct": 1.0}}, UnitError, "pct"),
        (
            {"kind": "displacement", "level": {"attention_mm": 9.0, "warning_mm": 5.0}},
            ConfigError,
            "rise",
        ),
        ({"kind": "displacement", "min_readings": 2}, ConfigError, "min_readings"),
    ],
)
def test_bad_rules_are_refused(raw, error, word):
    with pytest.raises(error, match=word):
        parse_sensor_rule(raw)


def test_impossible_readings_are_refused():
    vwc = parse_sensor_rule({"kind": "water_content", "level": {"alarm_pct": 45.0}})
    with pytest.raises(PhysicalError, match="water content"):
        assess(vwc, _times(2), [30.0, 130.0])
    with pytest.raises(PhysicalError, match="increase"):
        assess(vwc, [T0, T0], [30.0, 31.0])
    with pytest.raises(PhysicalError, match="crack width"):
        assess(CRACK, _times(2), [1.0, -0.5])
