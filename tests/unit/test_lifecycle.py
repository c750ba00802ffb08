"""Warning lifecycle decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.lifecycle import Timing, WarningState, step

T0 = datetime(2020, 10, 31, 3, 0, tzinfo=UTC)
TIMING = Timing(valid_h=3.0, extend_before_min=30.0, hold_min=30.0)


def run(levels, every_min=10):
    state, out = WarningState(), []
    for i, due in enumerate(levels):
        now = T0 + timedelta(minutes=every_min * i)
        state, d = step(
            state, due, now, hazard="rainstorm", area="441202001", timing=TIMING
        )
        out.append(d)
    return state, out


def test_issue_upgrade_downgrade_cancel():
    _, out = run(["blue", "orange", "orange", "orange", "yellow", None, None, None])
    actions = [(d.action, d.level) if d else None for d in out]
    # the downgrade waits for the 30 min hold after the upgrade at +10 min
    assert actions == [
        ("issue", "blue"),
        ("upgrade", "orange"),
        None,
        None,
        ("downgrade", "yellow"),
        None,
        None,
        ("cancel", None),  # 30 min after the downgrade at +40 min
    ]


def test_cancel_after_hold():
    _, out = run(["orange", None, None, None])
    assert [d.action if d else None for d in out] == ["issue", None, None, "cancel"]


def test_identifiers_are_deterministic_and_sequenced():
    _, a = run(["blue", "yellow", "yellow", "yellow", None])
    _, b = run(["blue", "yellow", "yellow", "yellow", None])
    ids = [d.event_id for d in a if d]
    assert ids == [d.event_id for d in b if d]
    assert ids[0] == "rainstorm:441202001:20201031T0300Z:1"
    assert ids[1].endswith(":2")


def test_extend_before_validity_runs_out():
    state, out = run(["yellow"] * 17)  # 160 minutes of yellow
    extends = [d for d in out if d and d.action == "extend"]
    assert len(extends) == 1
    # issued at 03:00, valid to 06:00; extended at 05:30 (30 min before)
    assert extends[0].observed_at == T0 + timedelta(minutes=150)
    assert extends[0].valid_to == T0 + timedelta(minutes=150, hours=3)


def test_replayed_observation_changes_nothing():
    state, d1 = step(WarningState(), "red", T0, hazard="h", area="a", timing=TIMING)
    again, d2 = step(state, "red", T0, hazard="h", area="a", timing=TIMING)
    assert d1 is not None and d2 is None and again == state


def test_state_round_trips():
    state, _ = run(["blue", "orange"])
    assert WarningState.from_dict(state.to_dict()) == state


def test_settle_needs_the_lower_level_due_without_a_break():
    timing = Timing(valid_h=3.0, extend_before_min=30.0, hold_min=0.0, settle_min=20.0)
    state, out = WarningState(), []
    for i, due in enumerate(["orange", None, "orange", None, None, None]):
        now = T0 + timedelta(minutes=10 * i)
        state, d = step(state, due, now, hazard="h", area="a", timing=timing)
        out.append(d.action if d else None)
    # the lull at +10 min is broken at +20; the one from +30 lasts 20 min at +50
    assert out == ["issue", None, None, None, None, "cancel"]
