"""Staged table views: nothing reaches the table before apply."""

from __future__ import annotations

import pytest

from pipeline.staging import Staged


def test_writes_are_seen_through_the_view_and_reach_the_table_on_apply():
    table = {"441202001": {"level": "blue"}, "441202002": {"level": None}}
    view = Staged(table)
    view["441202001"] = {"level": "orange"}
    view["441203001"] = {"level": "yellow"}
    del view["441202002"]

    assert view["441202001"] == {"level": "orange"}
    assert view.get("441202002") is None and "441202002" not in view
    assert sorted(view) == ["441202001", "441203001"]
    assert dict(view.items())["441203001"] == {"level": "yellow"}
    assert len(view) == 2
    # the table itself is untouched so far
    assert table == {"441202001": {"level": "blue"}, "441202002": {"level": None}}

    view.apply()
    assert table == {"441202001": {"level": "orange"}, "441203001": {"level": "yellow"}}
    assert view["441202001"] == {"level": "orange"}


def test_a_missing_or_deleted_key_raises_key_error():
    view = Staged({"a": 1})
    del view["a"]
    with pytest.raises(KeyError):
        view["a"]
    with pytest.raises(KeyError):
        del view["a"]
    with pytest.raises(KeyError):
        view["b"]
    view["a"] = 2
    assert view["a"] == 2
