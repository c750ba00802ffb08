"""Marks every test of the fuzz suite ``fuzz``: ``pytest -m "not fuzz"`` skips it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fuzz: property-based fuzzing with hostile input (tests/fuzz)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.path):
            item.add_marker(pytest.mark.fuzz)
