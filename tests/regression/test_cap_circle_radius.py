"""The CAP reader accepted a circle of radius NaN or infinity."""

from __future__ import annotations

import pytest

from connectors.cap_reader import parse_circle
from schemas.errors import CapError


@pytest.mark.parametrize("radius", ["nan", "inf", "-5", "1e999"])
def test_a_radius_that_is_no_distance_is_refused(radius: str) -> None:
    with pytest.raises(CapError, match="expected a finite radius"):
        parse_circle(f"23.9,112.35 {radius}")


def test_a_real_radius_is_read() -> None:
    assert parse_circle("23.9,112.35 10").radius_km == 10.0
