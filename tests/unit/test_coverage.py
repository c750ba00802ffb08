"""Coverage accounting against numbers worked out by hand.

Area: villages A (1,000 persons), B (500) and C (2,000), 3,500 in all; one
delivered SMS recipient stands for 100 persons. Dispatch starts at 12:00:00.

====  =========================  =====  =====  =====  =======  ========
t/s   event                      any A  any B  any C  reached  ratio
====  =========================  =====  =====  =====  =======  ========
10    SMS r1 (A)                 100    0      0      100      0.028571
20    loudspeaker LA 900 (A)     900    0      0      900      0.257143
30    SMS r2 (A)                 900    0      0      900      0.257143
40    loudspeaker LC 1,800 (C)   900    0      1800   2700     0.771429
50-54 SMS r3..r7 (B)             900    500    1800   3200     0.914286
60-62 SMS r8..r10 (C)            900    500    1800   3200     0.914286
70    SMS r1 again (A)           (repeat: not counted)
80    loudspeaker LC2 300 (C)    900    500    2000   3400     0.971429
====  =========================  =====  =====  =====  =======  ========

With overlap "max" a village counts max(SMS, loudspeaker): A = max(200, 900).
Per channel: SMS 200 + 500 + 300 = 1,000, loudspeaker 900 + 0 + 2,000 (2,100
capped at C's 2,000) = 2,900. The ratio first reaches 0.95 at t = 80 s.

With overlap "independent": A = 200 + 900 - 200 * 900 / 1000 = 920,
B = 500, C = 300 + 2000 - 300 * 2000 / 2000 = 2,000; 3,420 / 3,500 =
0.977143.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.coverage import CoverageAccount, ReachEvent

START = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
POPULATIONS = {"A": 1000, "B": 500, "C": 2000}


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def events() -> list[ReachEvent]:
    out = [
        ReachEvent("sms", "r1", "A", at(10)),
        ReachEvent("loudspeaker", "LA", "A", at(20), 900),
        ReachEvent("sms", "r2", "A", at(30)),
        ReachEvent("loudspeaker", "LC", "C", at(40), 1800),
    ]
    out += [ReachEvent("sms", f"r{n}", "B", at(47 + n)) for n in range(3, 8)]
    out += [ReachEvent("sms", f"r{n}", "C", at(52 + n)) for n in range(8, 11)]
    out += [
        ReachEvent("sms", "r1", "A", at(70)),
        ReachEvent("loudspeaker", "LC2", "C", at(80), 300),
    ]
    return out


def account(**kw) -> CoverageAccount:
    acc = CoverageAccount(POPULATIONS, START, people_per_recipient=100, **kw)
    for event in events():
        acc.add(event)
    return acc


def test_totals_per_channel_and_overall():
    result = account().compute()

    assert result.population == 3500
    assert result.reached_sms == 1000
    assert result.reached_loudspeaker == 2900
    assert result.reached_any == 3400
    assert result.coverage_ratio == pytest.approx(3400 / 3500)
    assert result.villages["A"].sms == 200
    assert result.villages["A"].loudspeaker == 900
    assert result.villages["A"].any == 900
    assert result.villages["C"].loudspeaker == 2000  # 2,100 capped


def test_timeline_and_time_to_target():
    result = account().compute(target=0.95)

    # Start point plus one point per distinct event: 13 (the repeat of r1 is none).
    assert len(result.timeline) == 1 + 13
    assert result.timeline[0] == (START, 0.0)
    points = dict(result.timeline)
    assert points[at(10)] == pytest.approx(100 / 3500)
    assert points[at(20)] == pytest.approx(900 / 3500)
    assert points[at(30)] == pytest.approx(900 / 3500)
    assert points[at(40)] == pytest.approx(2700 / 3500)
    assert points[at(50)] == pytest.approx(2800 / 3500)
    assert points[at(54)] == pytest.approx(3200 / 3500)
    assert points[at(62)] == pytest.approx(3200 / 3500)
    assert points[at(80)] == pytest.approx(3400 / 3500)
    assert at(70) not in points
    assert result.time_to_target_s == 80.0
    assert account().compute(target=0.98).time_to_target_s is None
    # 0.9 needs 3,150 persons: 3,100 at t = 53 s, 3,200 at t = 54 s.
    assert account().compute(target=0.9).time_to_target_s == 54.0


def test_independent_overlap():
    result = account(overlap="independent").compute()
    assert result.villages["A"].any == pytest.approx(920)
    assert result.reached_any == pytest.approx(3420)
    assert result.coverage_ratio == pytest.approx(3420 / 3500)


def test_a_village_reached_by_both_channels_counts_once():
    acc = CoverageAccount({"V": 100}, START, people_per_recipient=60)
    acc.add_sms("r1", "V", at(1))
    acc.add_loudspeaker("L1", "V", 80, at(2))
    acc.add_sms("r2", "V", at(3))  # SMS alone now stands for 120, capped at 100
    result = acc.compute()
    assert (result.reached_sms, result.reached_loudspeaker) == (100, 80)
    assert result.reached_any == 100
    assert result.coverage_ratio == 1.0


def test_merge_equals_one_account_and_keeps_the_earliest_repeat():
    left = CoverageAccount(POPULATIONS, START, people_per_recipient=100)
    right = CoverageAccount(POPULATIONS, START, people_per_recipient=100)
    for n, event in enumerate(events()):
        (left if n % 2 else right).add(event)
    right.add(ReachEvent("sms", "r1", "A", at(5)))  # an earlier copy of r1

    merged = left.merge(right).compute()
    whole = account().compute()

    assert merged.reached_any == whole.reached_any
    assert merged.time_to_target_s == whole.time_to_target_s
    assert dict(merged.timeline)[at(5)] == pytest.approx(100 / 3500)
    assert at(10) not in dict(merged.timeline)


def test_events_outside_the_area_are_counted_apart():
    acc = account()
    acc.add(ReachEvent("sms", "rx", "Z", at(15)))
    result = acc.compute()
    assert result.ignored == 1
    assert result.reached_any == 3400


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="no population"):
        CoverageAccount({"A": 0}, START)
    with pytest.raises(ValueError, match="people_per_recipient"):
        CoverageAccount(POPULATIONS, START, people_per_recipient=0)
    with pytest.raises(ValueError, match="cannot merge"):
        account().merge(CoverageAccount({"A": 1}, START, people_per_recipient=100))
    with pytest.raises(ValueError, match="outside"):
        account().compute(target=1.5)
