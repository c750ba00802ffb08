"""Radar nowcast: window totals by hand, motion of a moving cell, degradation."""

from __future__ import annotations

import numpy as np
import pytest

from models.areastat import area_statistic
from models.nowcast import (
    NowcastParams,
    area_values,
    block_index,
    coarsen,
    forecast_accumulations,
    nowcast_pixels,
    window_totals,
)


def test_window_totals_add_fallen_and_forecast_rain_by_hand():
    # one pixel, 3-step window; observed 1, 2, 3 (newest last), forecast 10, 20
    observed = np.array([[1.0], [2.0], [3.0]])
    forecast = np.array([[10.0], [20.0]])
    out = window_totals(observed, forecast, 3)
    # lead 1: 2 + 3 + 10 = 15; lead 2: 3 + 10 + 20 = 33
    assert out[:, 0].tolist() == [15.0, 33.0]
    # a window shorter than the lead: forecast rain only
    assert window_totals(observed, forecast, 1)[:, 0].tolist() == [10.0, 20.0]
    # an observed window shorter than the rule window: what was observed
    assert window_totals(observed[-1:], forecast, 3)[:, 0].tolist() == [13.0, 33.0]


def test_area_values_match_the_observed_area_statistic():
    rng = np.random.default_rng(3)
    totals = rng.gamma(2.0, 5.0, size=(4, 40))
    got = area_values(totals, "quantile:0.9")
    want = [area_statistic(row, "quantile:0.9").value_mm for row in totals]
    assert got == pytest.approx(want)
    assert area_values(totals[:, :5], "quantile:0.9") is None  # too few pixels


def test_forecast_accumulations_take_the_highest_lead():
    observed = np.zeros((6, 20))
    forecast = np.zeros((3, 20))
    forecast[1, :] = 30.0  # 30 mm in the second forecast step everywhere
    masks = {"T": np.arange(20)}
    out = forecast_accumulations(observed, forecast, masks, {1.0: 2}, "quantile:0.9")
    assert out == {"T": {1.0: 30.0}}


def test_coarsen_and_block_index():
    field = np.arange(16, dtype=float).reshape(4, 4)
    small = coarsen(field, 2)
    assert small.tolist() == [[2.5, 4.5], [10.5, 12.5]]
    # fine pixel (3, 1) lies in coarse block (1, 0)
    assert block_index(np.array([3 * 4 + 1]), 4, 2, (2, 2)).tolist() == [2]


def cell(shape: tuple[int, int], row: float, col: float, mm: float) -> np.ndarray:
    """A round rain cell, ``mm`` per step at its centre, 6 px radius."""
    ii, jj = np.mgrid[: shape[0], : shape[1]]
    r2 = (ii - row) ** 2 + (jj - col) ** 2
    return np.where(r2 <= 36, mm * np.exp(-r2 / 40.0), 0.0).astype(np.float32)


def test_a_cell_moving_east_is_carried_on_east():
    shape = (96, 96)
    # 3 px per step to the east (1 km pixels, 10-min steps: 18 km/h)
    frames = [cell(shape, 48, 20 + 3 * k, 5.0) for k in range(3)]
    params = NowcastParams(horizon_min=60, target_km=1.0)
    index = np.arange(shape[0] * shape[1])
    ahead = nowcast_pixels(frames, 600, 1.0, index, params)
    assert ahead is not None and ahead.shape == (6, index.size)
    for lead in (1, 3, 6):
        field = ahead[lead - 1].reshape(shape)
        row, col = np.unravel_index(np.argmax(field), shape)
        assert abs(row - 48) <= 1
        assert abs(col - (26 + 3 * lead)) <= 2


def test_no_forecast_from_too_few_frames_or_a_dry_field():
    shape = (64, 64)
    index = np.arange(shape[0] * shape[1])
    wet = [cell(shape, 32, 20 + 2 * k, 5.0) for k in range(3)]
    assert nowcast_pixels(wet[:2], 600, 1.0, index) is None
    dry = [np.zeros(shape, dtype=np.float32)] * 3
    assert nowcast_pixels(dry, 600, 1.0, index) is None
    assert nowcast_pixels(wet, 600, 1.0, index, NowcastParams(horizon_min=0)) is None
