"""Bad-input checks at and around their limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.quality import (
    RainLimit,
    Rejection,
    StageLimit,
    check_not_future,
    check_rain_mm,
    check_stage,
    check_stage_jump,
    check_stage_unit,
    parse_time,
    require_offset,
)
from schemas.errors import FutureTimeError, ParseError, PhysicalError, UnitError

KST = timezone(timedelta(hours=9))
T0 = datetime(2023, 7, 15, 10, 0, tzinfo=KST)


# --- rain -----------------------------------------------------------------


def test_rain_envelope_matches_the_published_curve() -> None:
    # R = 422 mm * D**0.475, D in hours (Jennings 1950).
    limit = RainLimit()
    assert limit.max_mm(3600) == pytest.approx(422.0)
    assert limit.max_mm(600) == pytest.approx(422.0 * (10 / 60) ** 0.475)
    assert limit.max_mm(600) == pytest.approx(180.2, abs=0.1)
    assert limit.max_mm(300) == pytest.approx(129.6, abs=0.1)


def test_world_records_pass() -> None:
    # 305 mm in 42 min (Holt, Missouri, 1947) and 38 mm in 1 min (Barot, 1970).
    assert check_rain_mm(305.0, 42 * 60, where="holt") == 305.0
    assert check_rain_mm(38.0, 60, where="barot") == 38.0


def test_300_mm_in_10_minutes_is_impossible() -> None:
    with pytest.raises(PhysicalError, match=r"300.0 mm in 10 min .* 180.2 mm"):
        check_rain_mm(300.0, 600, where="frame 04:30")


def test_rain_at_and_just_above_the_limit() -> None:
    most = RainLimit().max_mm(600)
    assert check_rain_mm(most, 600, where="x") == most
    with pytest.raises(PhysicalError):
        check_rain_mm(most + 0.01, 600, where="x")


def test_zero_rain_passes_and_negative_fails() -> None:
    assert check_rain_mm(0.0, 3600, where="RF004") == 0.0
    with pytest.raises(PhysicalError, match="RF004: rain -0.1 mm, expected >= 0"):
        check_rain_mm(-0.1, 3600, where="RF004")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_rain_fails(value: float) -> None:
    with pytest.raises(PhysicalError, match="finite"):
        check_rain_mm(value, 600, where="x")


def test_rain_step_must_be_positive() -> None:
    with pytest.raises(PhysicalError, match="positive step"):
        check_rain_mm(1.0, 0, where="x")


def test_rain_limit_is_configurable() -> None:
    strict = RainLimit(coefficient_mm=100.0)
    with pytest.raises(PhysicalError):
        check_rain_mm(101.0, 3600, where="x", limit=strict)


# --- stage ----------------------------------------------------------------


def test_stage_limit_defaults() -> None:
    limit = StageLimit()
    assert limit.max_m(300) == pytest.approx(2.0)  # 2 m in 5 min
    assert limit.max_m(60) == pytest.approx(2.0)  # shorter counts as 5 min
    assert limit.max_m(900) == pytest.approx(6.0)
    assert limit.max_m(3600) == pytest.approx(10.0)  # capped
    assert limit.max_m(86400) == pytest.approx(10.0)


def test_two_metres_in_five_minutes_is_the_edge() -> None:
    later = T0 + timedelta(minutes=5)
    check_stage_jump(5.0, T0, 7.0, later, unit="m", where="x")
    check_stage_jump(7.0, T0, 5.0, later, unit="m", where="x")
    with pytest.raises(PhysicalError, match=r"\+2.01 m in 5 min"):
        check_stage_jump(5.0, T0, 7.01, later, unit="m", where="x")


def test_twenty_metre_jump_fails_at_any_interval() -> None:
    for minutes in (1, 5, 60, 24 * 60):
        with pytest.raises(PhysicalError, match="at most"):
            check_stage_jump(
                2.0, T0, 22.0, T0 + timedelta(minutes=minutes), unit="m", where="x"
            )


def test_flash_flood_rise_passes() -> None:
    # About 8 m in 45 minutes, the order of the fastest recorded river rises.
    check_stage_jump(1.0, T0, 9.0, T0 + timedelta(minutes=45), unit="m", where="x")


def test_stage_limit_in_feet() -> None:
    later = T0 + timedelta(minutes=5)
    two_m_in_ft = 2.0 / 0.3048  # 6.5617 ft
    check_stage_jump(10.0, T0, 10.0 + 6.56, later, unit="ft", where="x")
    with pytest.raises(PhysicalError, match="ft"):
        check_stage_jump(
            10.0, T0, 10.0 + two_m_in_ft + 0.01, later, unit="ft", where="x"
        )


def test_stage_jump_needs_a_known_unit() -> None:
    with pytest.raises(UnitError):
        check_stage_jump(1.0, T0, 1.1, T0, unit="cm", where="x")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_stage_fails(value: float) -> None:
    with pytest.raises(PhysicalError):
        check_stage(value, where="x")
    assert check_stage(-0.5, where="x") == -0.5  # below datum is possible


def test_stage_unit_must_be_the_declared_one() -> None:
    check_stage_unit("ft", "ft", where="02489500")
    with pytest.raises(UnitError, match="stage in 'm', but the station declares 'ft'"):
        check_stage_unit("m", "ft", where="02489500")
    with pytest.raises(UnitError, match="'cfs' is not understood"):
        check_stage_unit("cfs", "ft", where="02489500")


# --- time -----------------------------------------------------------------


def test_future_time_at_and_past_the_skew() -> None:
    now = datetime(2023, 7, 15, 1, 0, tzinfo=UTC)
    check_not_future(now + timedelta(minutes=5), now, where="x")
    with pytest.raises(FutureTimeError, match="ahead of the clock"):
        check_not_future(now + timedelta(minutes=5, seconds=1), now, where="x")
    check_not_future(now - timedelta(days=400), now, where="x")


def test_future_time_compares_across_offsets() -> None:
    now = datetime(2023, 7, 15, 1, 0, tzinfo=UTC)
    # 10:00 KST is 01:00 UTC: not in the future.
    check_not_future(T0, now, where="x")
    with pytest.raises(FutureTimeError):
        check_not_future(T0 + timedelta(hours=1), now, where="x")


def test_skew_is_configurable() -> None:
    now = datetime(2023, 7, 15, 1, 0, tzinfo=UTC)
    ahead = now + timedelta(seconds=30)
    check_not_future(ahead, now, where="x", allowed_skew=timedelta(seconds=30))
    with pytest.raises(FutureTimeError):
        check_not_future(ahead, now, where="x", allowed_skew=timedelta(0))


def test_naive_clock_is_a_bug_not_bad_input() -> None:
    with pytest.raises(ValueError, match="aware"):
        check_not_future(T0, datetime(2023, 7, 15, 1, 0), where="x")


def test_timestamp_without_offset_fails() -> None:
    with pytest.raises(UnitError, match="no UTC offset"):
        require_offset(datetime(2023, 7, 15, 10, 0), where="x")
    with pytest.raises(UnitError, match="no UTC offset"):
        check_not_future(datetime(2023, 7, 15, 10), datetime.now(UTC), where="x")
    with pytest.raises(UnitError):
        parse_time("2023-07-15T10:00:00", where="x")


def test_parse_time_keeps_the_offset() -> None:
    time = parse_time("2019-03-01T05:00:00.000-06:00", where="x")
    assert time.utcoffset() == timedelta(hours=-6)
    assert time.astimezone(UTC) == datetime(2019, 3, 1, 11, 0, tzinfo=UTC)
    with pytest.raises(ParseError, match="not ISO-8601"):
        parse_time("15/07/2023 10:00", where="x")


def test_rejection_keeps_the_error_class() -> None:
    try:
        check_rain_mm(-1.0, 600, where="x")
    except PhysicalError as exc:
        rejection = Rejection.from_error("file line 3", exc)
    assert rejection.reason_class == "physical"
    assert rejection.where == "file line 3"
    assert "expected >= 0" in rejection.reason
