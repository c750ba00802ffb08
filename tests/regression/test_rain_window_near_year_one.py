"""A rain window reaching back before year 1 overflowed the datetime."""

from __future__ import annotations

from datetime import UTC, datetime

from models.accumulation import RainWindow


def test_a_window_ending_in_year_one_sums_its_steps() -> None:
    window = RainWindow(keep_h=12.0)
    end = datetime(1, 1, 1, 1, 0, tzinfo=UTC)
    window.add(end, 4.0)
    # the 12-h window starts 11 h before year 1 began: only the one step
    assert window.total_mm(end, 12.0) == 4.0
