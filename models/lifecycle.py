"""The life of one warning: issue, upgrade, downgrade, extend, cancel.

Every hazard model answers one question per observation: which colour
should this area be under now? :func:`step` turns that answer, the colour
in force and the time into a decision:

============  ==============================================  ==========
action        when                                            CAP msgType
============  ==============================================  ==========
issue         nothing in force, a colour is due               Alert
upgrade       a higher colour is due                          Update
downgrade     a lower colour is due and the hold has passed   Update
extend        the same colour is due and validity runs out    Update
cancel        no colour is due and the hold has passed        Cancel
============  ==============================================  ==========

A colour is held at least ``hold_min`` minutes after it was set before a
downgrade or cancel, and a lower colour (or none) must have been due without
a break for ``settle_min`` minutes, so a short lull does not lift a warning
that the next frame would issue again. Upgrades are never delayed.

Identifiers are derived from the input alone: a warning is named after its
hazard, area and the observation time that issued it, and each decision
carries the next sequence number. A worker that re-reads the same records
therefore makes the same decisions with the same identifiers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from models.rules import COLOURS


@dataclass(frozen=True)
class WarningState:
    """What is in force for one (hazard, area).

    Attributes
    ----------
    warning_id : str or None
        Identifier of the warning in force; None when there is none.
    level : str or None
        Colour in force.
    sequence : int
        Number of decisions made for ``warning_id`` so far.
    changed_at : float or None
        POSIX seconds when ``level`` was last set.
    valid_to : float or None
        POSIX seconds when the warning expires unless extended.
    last_obs : float or None
        POSIX seconds of the newest observation taken into account.
    lower_since : float or None
        POSIX seconds since when a lower colour (or none) has been due.
    """

    warning_id: str | None = None
    level: str | None = None
    sequence: int = 0
    changed_at: float | None = None
    valid_to: float | None = None
    last_obs: float | None = None
    lower_since: float | None = None

    def to_dict(self) -> dict:
        """Serialisable form for a table."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> WarningState:
        """Inverse of :meth:`to_dict`; None gives the empty state."""
        return cls(**data) if data else cls()


@dataclass(frozen=True)
class Decision:
    """One lifecycle decision, ready to become a warning event."""

    warning_id: str
    sequence: int
    action: str
    level: str | None
    previous_level: str | None
    observed_at: datetime
    valid_from: datetime
    valid_to: datetime

    @property
    def event_id(self) -> str:
        """Identifier of this decision: the warning and its sequence."""
        return f"{self.warning_id}:{self.sequence}"


@dataclass(frozen=True)
class Timing:
    """Time parameters of a hazard's warnings.

    Parameters
    ----------
    valid_h : float
        Validity of an issued, upgraded or extended warning, hours.
    extend_before_min : float
        Extend when validity would end within this many minutes.
    hold_min : float
        Minimum time a colour is kept before a downgrade or cancel, minutes.
    settle_min : float
        How long a lower colour must have been due, without a break, before
        a downgrade or cancel, minutes (0: at once).
    """

    valid_h: float = 3.0
    extend_before_min: float = 30.0
    hold_min: float = 30.0
    settle_min: float = 0.0


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def _rank(level: str | None) -> int:
    return -1 if level is None else COLOURS.index(level)


def step(
    state: WarningState,
    due: str | None,
    now: datetime,
    *,
    hazard: str,
    area: str,
    timing: Timing,
) -> tuple[WarningState, Decision | None]:
    """Advance the lifecycle of one (hazard, area) by one observation.

    Parameters
    ----------
    state : WarningState
        What is in force before this observation.
    due : str or None
        Colour the hazard model says is due now.
    now : datetime
        Observation time (aware).
    hazard, area : str
        Names used to build the warning identifier.
    timing : Timing
        Validity, extension and hold parameters.

    Returns
    -------
    (WarningState, Decision or None)
        The new state, and the decision when there is one.
    """
    ts = now.timestamp()
    if state.last_obs is not None and ts <= state.last_obs:
        return state, None
    lower = state.level is not None and _rank(due) < _rank(state.level)
    since = (state.lower_since or ts) if lower else None
    state = replace(state, last_obs=ts, lower_since=since)
    valid_to = now + timedelta(hours=timing.valid_h)
    held = (
        state.changed_at is not None and ts - state.changed_at < timing.hold_min * 60.0
    ) or (since is not None and ts - since < timing.settle_min * 60.0)

    if state.level is None:
        if due is None:
            return state, None
        wid = f"{hazard}:{area}:{_stamp(now)}"
        return _decide(state, wid, "issue", due, None, now, valid_to, changed=True)

    wid = state.warning_id or f"{hazard}:{area}:{_stamp(now)}"
    if _rank(due) > _rank(state.level):
        return _decide(state, wid, "upgrade", due, state.level, now, valid_to, True)
    if due is None and not held:
        return _decide(state, wid, "cancel", None, state.level, now, now, True)
    if due is not None and _rank(due) < _rank(state.level) and not held:
        return _decide(state, wid, "downgrade", due, state.level, now, valid_to, True)

    expires = state.valid_to or ts
    if due is not None and expires - ts <= timing.extend_before_min * 60.0:
        return _decide(state, wid, "extend", state.level, state.level, now, valid_to)
    return state, None


def _decide(
    state: WarningState,
    warning_id: str,
    action: str,
    level: str | None,
    previous: str | None,
    now: datetime,
    valid_to: datetime,
    changed: bool = False,
) -> tuple[WarningState, Decision]:
    seq = state.sequence + 1 if state.warning_id == warning_id else 1
    decision = Decision(
        warning_id=warning_id,
        sequence=seq,
        action=action,
        level=level,
        previous_level=previous,
        observed_at=now,
        valid_from=now,
        valid_to=valid_to,
    )
    if action == "cancel":
        return WarningState(last_obs=state.last_obs), decision
    new_state = replace(
        state,
        lower_since=None,
        warning_id=warning_id,
        level=level,
        sequence=seq,
        changed_at=now.timestamp() if changed else state.changed_at,
        valid_to=valid_to.timestamp(),
    )
    return new_state, decision
