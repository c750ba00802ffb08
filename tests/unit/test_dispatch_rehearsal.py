"""The order in which the demo hands a run's alerts to the dispatcher."""

from __future__ import annotations

from dataclasses import replace

from pipeline.dispatch.rehearsal import dispatch_settings, ready
from pipeline.settings import Settings


def alert(identifier: str, *refs: str) -> dict:
    return {"identifier": identifier, "references": list(refs)}


def test_a_message_waits_for_the_dispatch_of_those_it_references():
    a1, a2, a3 = alert("A1"), alert("A2", "A1"), alert("A3", "A1", "A2")
    b1 = alert("B1")
    known = {"A1", "A2", "A3", "B1"}
    assert ready([a1, a2, a3, b1], set(), known) == [a1, b1]
    assert ready([a2, a3], {"A1"}, known) == [a2]
    assert ready([a3], {"A1", "A2"}, known) == [a3]


def test_a_reference_the_dispatcher_never_takes_holds_nothing_back():
    update = alert("U2", "U1")
    assert ready([update], set(), {"U2"}) == [update]


def test_the_dispatcher_runs_on_topics_of_its_own():
    run = replace(
        Settings(), app_id="ews-demo-1", topic_prefix="demo-1.", dispatch_enabled=False
    )
    mine = dispatch_settings(run)
    assert mine.dispatch_enabled and mine.app_id == "ews-demo-1-dispatch"
    assert mine.topic("alerts.cap") == "demo-1.dispatch.alerts.cap"
    assert mine.archive_dir == ""
