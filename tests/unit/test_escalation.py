"""Wave decisions with hand-made histories and an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.escalation import (
    Attempt,
    Policy,
    deadline_of,
    first_wave,
    next_route,
    next_wave,
    outcome_of,
    timed_out,
)
from models.targeting import Target

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SMS1 = Target("r1", "sms", "V1", "441202001", 0.0, "zh-CN")
SMS2 = Target("r2", "sms", "V2", "441202001", 0.0, "zh-CN")
LS1 = Target("L1", "loudspeaker", "V1", "441202001", 900.0, "zh-CN")
LS2 = Target("L2", "loudspeaker", "V2", "441202001", 400.0, "zh-CN")
TWO_ROUTES = Policy(sms_routes=("sms", "sms2"))
DEFAULT = Policy()


def attempts(*items: tuple[str, str]) -> list[Attempt]:
    return [Attempt(w, route, outcome) for w, (route, outcome) in enumerate(items, 1)]


def decide(history, *, shares=None, ratio=0.5, now=T0, policy=DEFAULT, wave=1):
    return next_wave(
        wave=wave,
        targets=[SMS1, SMS2, LS1, LS2],
        attempts=history,
        village_share=shares or {"V1": 0.5, "V2": 0.5},
        coverage_ratio=ratio,
        now=now,
        deadline=T0 + timedelta(hours=1),
        policy=policy,
    )


@pytest.mark.parametrize(
    ("state", "retryable", "outcome"),
    [
        ("delivered", True, "reached"),
        ("played", True, "reached"),
        ("failed", True, "failed"),
        ("expired", True, "failed"),
        ("refused", True, "refused"),
        ("refused", False, "rejected"),
        ("timeout", True, "timeout"),
        ("skipped", False, "skipped"),
        ("unknown", True, "pending"),
    ],
)
def test_receipt_states_map_to_outcomes(state, retryable, outcome):
    assert outcome_of(state, retryable=retryable) == outcome


def test_policy_refuses_nonsense():
    for bad in (
        dict(wait_s=0),
        dict(target=1.5),
        dict(max_attempts=0),
        dict(sms_routes=()),
        dict(first_wave="some"),
    ):
        with pytest.raises(ValueError):
            Policy(**bad)


def test_deadline_is_the_expiry_or_the_validity_from_taking():
    sent, expires = T0 - timedelta(days=900), T0 - timedelta(days=900, hours=-3)
    assert deadline_of(sent, expires, T0, honour_expiry=True) == expires
    assert deadline_of(sent, expires, T0, honour_expiry=False) == T0 + timedelta(
        hours=3
    )


def test_a_send_times_out_after_the_wave_wait():
    policy = Policy(wait_s=120)
    assert not timed_out(T0, T0 + timedelta(seconds=119.9), policy)
    assert timed_out(T0, T0 + timedelta(seconds=120), policy)


def test_first_wave_all_or_loudspeakers_first():
    everyone = first_wave([SMS1, SMS2, LS1], Policy())
    assert [(s.target.target_id, s.route, s.wave) for s in everyone] == [
        ("r1", "sms", 1),
        ("r2", "sms", 1),
        ("L1", "loudspeaker", 1),
    ]
    # V1 has a loudspeaker, V2 none: r2 goes in wave 1, r1 waits.
    speakers = first_wave([SMS1, SMS2, LS1], Policy(first_wave="loudspeaker_first"))
    assert [s.target.target_id for s in speakers] == ["r2", "L1"]


def test_sms_fails_over_to_the_secondary_route_and_stays_there():
    assert next_route(SMS1, attempts(("sms", "failed")), TWO_ROUTES) == "sms2"
    assert next_route(SMS1, attempts(("sms", "timeout")), TWO_ROUTES) == "sms2"
    history = attempts(("sms", "failed"), ("sms2", "failed"))
    assert next_route(SMS1, history, TWO_ROUTES) == "sms2"
    assert next_route(SMS1, attempts(("sms", "failed")), Policy()) == "sms"


def test_a_number_refused_for_good_is_not_sent_to_that_route_again():
    assert next_route(SMS1, attempts(("sms", "rejected")), Policy()) is None
    assert next_route(SMS1, attempts(("sms", "rejected")), TWO_ROUTES) == "sms2"
    history = attempts(("sms", "rejected"), ("sms2", "failed"))
    assert next_route(SMS1, history, TWO_ROUTES) == "sms2"


def test_attempts_are_limited():
    history = attempts(("sms", "failed"), ("sms", "failed"), ("sms", "failed"))
    assert next_route(SMS1, history, Policy(max_attempts=3)) is None
    assert next_route(SMS1, history, Policy(max_attempts=4)) == "sms"


def test_a_silent_loudspeaker_is_not_commanded_twice_but_a_failed_one_is():
    assert next_route(LS1, attempts(("loudspeaker", "timeout")), Policy()) is None
    loud = Policy(retry_silent_loudspeakers=True)
    assert next_route(LS1, attempts(("loudspeaker", "timeout")), loud) == "loudspeaker"
    assert next_route(LS1, attempts(("loudspeaker", "failed")), Policy()) == (
        "loudspeaker"
    )


def test_dispatch_stops_at_the_target():
    verdict = decide({}, ratio=0.95)
    assert verdict.done and verdict.outcome == "reached"


def test_dispatch_stops_when_the_alert_expires():
    verdict = decide({}, now=T0 + timedelta(hours=1))
    assert verdict.done and verdict.outcome == "expired"


def test_next_wave_retries_the_unreached_and_falls_back_where_short():
    history = {
        "r1": attempts(("sms", "failed")),
        "L1": attempts(("loudspeaker", "reached")),
        "L2": attempts(("loudspeaker", "timeout")),
    }
    # r2 was never tried (loudspeakers first); V2 is short of 95 %.
    verdict = decide(history, shares={"V1": 0.9, "V2": 0.0}, policy=TWO_ROUTES)
    assert not verdict.done
    assert sorted((s.target.target_id, s.route, s.wave) for s in verdict.sends) == [
        ("r1", "sms2", 2),
        ("r2", "sms", 2),
    ]


def test_an_untried_target_in_a_covered_village_is_not_added():
    history = {
        "r1": attempts(("sms", "reached")),
        "L1": attempts(("loudspeaker", "reached")),
        "L2": attempts(("loudspeaker", "reached")),
    }
    verdict = decide(history, shares={"V1": 1.0, "V2": 0.96})
    assert verdict.done and verdict.outcome == "exhausted"
    assert "0 recipient(s) and 0 loudspeaker(s)" in verdict.reason


def test_nothing_left_to_try_is_exhausted_with_the_reason():
    history = {
        "r1": attempts(("sms", "rejected")),
        "r2": attempts(("sms", "failed"), ("sms", "failed"), ("sms", "failed")),
        "L1": attempts(("loudspeaker", "timeout")),
        "L2": attempts(("loudspeaker", "reached")),
    }
    verdict = decide(history, ratio=0.4, wave=3)
    assert verdict.done and verdict.outcome == "exhausted"
    assert "2 recipient(s) and 1 loudspeaker(s) unreached" in verdict.reason


def test_pending_and_skipped_sends_are_left_alone():
    history = {
        "r1": attempts(("sms", "pending")),
        "r2": attempts(("sms", "skipped")),
        "L1": attempts(("loudspeaker", "reached")),
        "L2": attempts(("loudspeaker", "reached")),
    }
    assert decide(history).outcome == "exhausted"
