"""Verification counts and scores: textbook table, hand-made cases, merging."""

from __future__ import annotations

import pytest

from models.rules import load_ruleset
from models.verification import (
    Counts,
    CrossingVerifier,
    LiveScores,
    WarningVerifier,
    criterion_level,
    total,
)

MIN = 60.0


def test_the_textbook_table_gives_the_published_scores():
    # 82 hits, 38 false alarms, 23 misses, 222 correct negatives
    counts = Counts(issued=120, verified=82, hits=82, misses=23, correct_negatives=222)
    s = counts.scores()
    assert s["pod"] == pytest.approx(0.7810, abs=5e-5)
    assert s["far"] == pytest.approx(0.3167, abs=5e-5)
    assert s["csi"] == pytest.approx(0.5734, abs=5e-5)
    assert s["accuracy"] == pytest.approx(1 - 0.3167, abs=5e-5)


def test_a_small_table_by_hand():
    # 3 hits, 1 false alarm, 1 miss: POD 3/4, FAR 1/4, CSI 3/5
    s = Counts(issued=4, verified=3, hits=3, misses=1, leads_min=[30, 10, 0]).scores()
    assert (s["pod"], s["far"], s["csi"]) == pytest.approx((0.75, 0.25, 0.6))
    # the miss counts 0 in the mean lead: (30 + 10 + 0 + 0) / 4
    assert s["mean_lead_min"] == pytest.approx(10.0)
    assert s["share_lead_ge_20"] == pytest.approx(1 / 3)


def test_counts_merge_like_one_table():
    a = Counts(issued=2, verified=1, hits=1, misses=0, leads_min=[5])
    b = Counts(issued=3, verified=3, hits=2, misses=2, leads_min=[25, 0])
    m = a.merge(b)
    assert (m.issued, m.verified, m.hits, m.misses) == (5, 4, 3, 2)
    assert m.leads_min == [5, 25, 0]
    assert total([a, b]).scores() == m.scores()
    assert a.issued == 2  # merging changes neither


def test_scores_without_a_denominator_are_none():
    s = Counts().scores()
    assert s["pod"] is None and s["accuracy"] is None and s["csi"] is None


def test_a_warning_ahead_of_the_criterion_is_a_hit_with_its_lead():
    v = WarningVerifier()
    v.add_observation("A", None, 0)
    v.add_warning("A", "orange", 10 * MIN, 190 * MIN)  # forecast issue
    v.add_observation("A", None, 10 * MIN)
    v.add_observation("A", "orange", 40 * MIN)  # met 30 min later
    v.add_observation("A", None, 60 * MIN)
    v.add_warning("A", None, 90 * MIN, 90 * MIN)
    c = v.counts()
    assert (c["orange"].issued, c["orange"].verified) == (1, 1)
    assert (c["orange"].hits, c["orange"].misses) == (1, 0)
    assert c["orange"].leads_min == [30.0]
    # orange met means yellow and blue met: events, but no unit of theirs
    assert (c["yellow"].hits, c["yellow"].issued) == (1, 0)
    assert c["blue"].leads_min == [30.0]


def test_a_late_warning_has_lead_zero_and_a_missing_one_is_a_miss():
    v = WarningVerifier()
    v.add_observation("A", "yellow", 0)  # met, nothing in force
    v.add_observation("A", "yellow", 10 * MIN)
    v.add_warning("A", "yellow", 10 * MIN, 190 * MIN)  # issued late
    v.add_observation("B", "yellow", 0)  # never warned
    v.add_observation("B", None, 10 * MIN)
    c = v.counts()["yellow"]
    assert (c.hits, c.misses, c.leads_min) == (1, 1, [0.0])
    assert (c.issued, c.verified) == (1, 1)
    per = v.per_area()
    # every colour together: blue and yellow events in each town
    assert per["B"].misses == 2 and per["A"].hits == 2


def test_a_warning_that_nothing_verifies_is_a_false_alarm():
    v = WarningVerifier()
    v.add_warning("A", "orange", 0, 180 * MIN)
    v.add_observation("A", "yellow", 10 * MIN)  # below orange
    v.add_warning("A", None, 40 * MIN, 40 * MIN)
    v.add_observation("A", "orange", 50 * MIN)  # after the cancel: a miss
    c = v.counts()["orange"]
    assert (c.issued, c.verified, c.hits, c.misses) == (1, 0, 0, 1)


def test_an_expired_warning_verifies_nothing_after_its_window():
    v = WarningVerifier()
    v.add_warning("A", "yellow", 0, 60 * MIN)
    v.add_observation("A", "yellow", 60 * MIN)  # at valid_to: still in (>=)
    v.add_warning("B", "yellow", 0, 60 * MIN)
    v.add_observation("B", "yellow", 70 * MIN)  # after it
    c = v.counts()["yellow"]
    assert (c.issued, c.verified, c.hits, c.misses) == (2, 1, 1, 1)


def test_an_upgrade_keeps_the_lower_unit_and_a_downgrade_ends_the_higher():
    v = WarningVerifier()
    v.add_warning("A", "yellow", 0, 180 * MIN)
    v.add_warning("A", "orange", 10 * MIN, 190 * MIN)
    v.add_observation("A", "yellow", 100 * MIN)
    v.add_warning("A", "yellow", 120 * MIN, 300 * MIN)  # downgrade
    v.add_observation("A", "orange", 130 * MIN)  # orange met after it ended
    c = v.counts()
    assert (c["yellow"].issued, c["yellow"].verified) == (1, 1)
    assert (c["orange"].issued, c["orange"].verified) == (1, 0)
    assert c["orange"].misses == 1
    assert c["yellow"].leads_min == [100.0]


def test_criterion_level_uses_the_rule_thresholds_with_ge():
    rules = load_ruleset("cma-rainstorm")
    assert criterion_level(rules, {1: 0, 3: 49.99, 6: 49.99, 12: 49.99}) is None
    assert criterion_level(rules, {1: 5, 3: 20, 6: 30, 12: 50.0}) == "blue"
    assert criterion_level(rules, {1: 5, 3: 50.0, 6: 60, 12: 60}) == "orange"
    assert criterion_level(rules, {1: 50, 3: 100.0, 6: 100, 12: 100}) == "red"


def test_crossings_warned_before_count_and_those_at_the_crossing_do_not():
    steps = [("yellow", 7.0), ("orange", 8.0)]
    v = CrossingVerifier()
    h = 3600.0
    v.add_stage("S", 6.0, 0, steps)
    v.add_warning("S", "yellow", 1 * h, 13 * h)
    v.add_stage("S", 6.5, 1 * h, steps)
    v.add_stage("S", 7.2, 3 * h, steps)  # yellow crossed, warned 2 h before
    v.add_stage("S", 8.1, 4 * h, steps)  # orange crossed
    v.add_warning("S", "orange", 4 * h, 16 * h)  # at the crossing: too late
    v.add_stage("S", 8.3, 5 * h, steps)  # no new crossing
    s = v.scores()
    assert (s["crossings"], s["warned"]) == (2, 1)
    assert s["issuance_rate"] == pytest.approx(0.5)
    assert s["min_lead_min"] == 0.0
    assert [c.lead_min for c in v.crossings] == [120.0, None]


def test_live_scores_follow_the_observations():
    live = LiveScores(load_ruleset("cma-rainstorm"))
    quiet = {1.0: 0.0, 3.0: 0.0, 6.0: 0.0, 12.0: 0.0}
    wet = {1.0: 30.0, 3.0: 55.0, 6.0: 55.0, 12.0: 55.0}
    live.rain_observed("A", quiet, 0, [("orange", 0.0, 180 * MIN)])
    assert live.scores()["rainstorm"]["pod"] is None
    live.rain_observed("A", wet, 20 * MIN)
    s = live.scores()["rainstorm"]
    # blue, yellow and orange events, all warned 20 min ahead; one unit
    assert (s["hits"], s["missed"], s["issued"], s["verified"]) == (3, 0, 1, 1)
    assert s["mean_lead_min"] == pytest.approx(20.0)
