"""Area statistics of a step accumulation, against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.areastat import area_statistic, parse_statistic
from schemas.errors import ConfigError

# 20 pixels: 1, 2, ..., 20 mm.
PIXELS = np.arange(1.0, 21.0)


def test_q90_interpolates_between_order_statistics() -> None:
    # Position 0.9 * (20 - 1) = 17.1 between the 18th (18 mm) and 19th (19 mm).
    stat = area_statistic(PIXELS)
    assert stat is not None
    assert stat.value_mm == pytest.approx(18.1)
    assert (stat.pixels, stat.total_pixels, stat.statistic) == (20, 20, "q90")


def test_mean_and_max() -> None:
    mean = area_statistic(PIXELS, "mean")
    high = area_statistic(PIXELS, "max")
    assert mean is not None and high is not None
    assert (mean.value_mm, mean.statistic) == (10.5, "mean")
    assert (high.value_mm, high.statistic) == (20.0, "max")


def test_one_hot_pixel_moves_the_max_but_not_the_q90() -> None:
    # A town of 100 dry-ish pixels (2 mm) with one clutter pixel at 80 mm.
    values = np.full(100, 2.0)
    values[17] = 80.0
    assert area_statistic(values, "max").value_mm == 80.0
    assert area_statistic(values, "quantile:0.9").value_mm == 2.0
    # The mean is pulled up by 0.78 mm: (99 * 2 + 80) / 100.
    assert area_statistic(values, "mean").value_mm == pytest.approx(2.78)


def test_a_cell_over_a_fifth_of_the_town_reaches_the_q90() -> None:
    # 20 of 100 pixels under a 40 mm cell, the rest dry: the mean says 8 mm.
    values = np.zeros(100)
    values[:20] = 40.0
    assert area_statistic(values, "mean").value_mm == 8.0
    assert area_statistic(values).value_mm == 40.0


def test_nan_pixels_are_left_out() -> None:
    values = np.concatenate([PIXELS, np.full(5, np.nan)])
    stat = area_statistic(values, "mean")
    assert stat is not None
    assert (stat.value_mm, stat.pixels, stat.total_pixels) == (10.5, 20, 25)
    assert stat.valid_fraction == 0.8


def test_too_few_valid_pixels_give_none() -> None:
    values = np.full(40, np.nan)
    values[:15] = 3.0
    assert area_statistic(values) is None
    assert area_statistic(values, min_pixels=15).value_mm == 3.0
    assert area_statistic(np.array([]), min_pixels=0) is None


def test_pixels_index_a_whole_frame() -> None:
    frame = np.zeros((4, 5))
    frame[1, 2] = 9.0
    frame[3, 4] = 5.0
    stat = area_statistic(frame, "max", pixels=np.array([7, 19]), min_pixels=1)
    assert stat is not None and (stat.value_mm, stat.pixels) == (9.0, 2)


@pytest.mark.parametrize(
    ("spec", "kind", "q", "label"),
    [
        ("quantile:0.9", "quantile", 0.9, "q90"),
        ("q90", "quantile", 0.9, "q90"),
        ("quantile:0.75", "quantile", 0.75, "q75"),
        (" MEAN ", "mean", None, "mean"),
        ("max", "max", None, "max"),
    ],
)
def test_statistic_names(spec: str, kind: str, q: float | None, label: str) -> None:
    stat = parse_statistic(spec)
    assert stat.kind == kind and stat.label == label
    assert stat.q == (pytest.approx(q) if q is not None else None)


@pytest.mark.parametrize("spec", ["median", "quantile:1.5", "quantile:x", "q", ""])
def test_unknown_statistic_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_statistic(spec)
