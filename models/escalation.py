"""Escalation in waves: what to send next, and when an alert's dispatch is over.

Dispatch of one alert goes in waves. Wave 1 sends to the targets the policy
names (:func:`first_wave`). A wave is over when every send of it has a final
outcome: a receipt (delivered, played, failed, expired), a refusal by the
gateway, a skip, or a timeout, which the dispatcher declares for a send
that has had no final receipt ``wait_s`` seconds after it went out. Then
:func:`next_wave` decides, in this order:

1. coverage at or above ``target`` (a ratio, 0.95 by default): done,
   ``reached``;
2. the clock at or past the alert's deadline: done, ``expired``;
3. otherwise the next wave, made of
   - every target not yet reached whose last attempt failed, timed out or
     was refused, while it has attempts left (``max_attempts`` in all): an
     SMS goes to the next route of ``sms_routes`` (the secondary route
     after the primary failed; the last route again once all were tried;
     never a route that refused the number for good); a loudspeaker that
     reported a failure is commanded again, but one that stayed silent is
     not (its broker keeps the command and hands it over when the
     loudspeaker comes back, and a second command would play twice) unless
     ``retry_silent_loudspeakers`` is set;
   - the fallback to the other channel: every target not yet tried in a
     village still short of ``target`` (with ``first_wave="loudspeaker_first"``
     these are the SMS recipients of villages whose loudspeakers did not
     cover them; with ``"all"`` every target went in wave 1 already);
4. an empty next wave: done, ``exhausted``, with the reason.

Outcomes of one attempt (:func:`outcome_of` maps receipt states):

==========  ===========================================  ==========
outcome     from                                         retried
==========  ===========================================  ==========
reached     delivered, played                            no
pending     unknown (an SMSC ack, buffered)              not yet
failed      failed, expired                              yes
refused     a refusal the gateway calls temporary        yes
rejected    a refusal for good (invalid number)          other route
timeout     no final receipt ``wait_s`` after sending    yes (SMS)
skipped     not sent: alert superseded, target reached   no
==========  ===========================================  ==========

Everything here is pure: times are passed in (aware datetimes), nothing
is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from models.targeting import Target

Outcome = Literal[
    "reached", "pending", "failed", "refused", "rejected", "timeout", "skipped"
]
FirstWave = Literal["all", "loudspeaker_first"]
LOUDSPEAKER_ROUTE = "loudspeaker"
RETRYABLE: frozenset[str] = frozenset({"failed", "refused", "timeout", "rejected"})


@dataclass(frozen=True)
class Policy:
    """How an alert escalates.

    Parameters
    ----------
    wait_s : float
        Seconds a send may go without a final receipt before it counts as
        timed out, s (> 0).
    target : float
        Coverage ratio at which dispatch stops, 0..1.
    max_attempts : int
        Attempts per target in all, over every route (>= 1).
    sms_routes : tuple of str
        SMS routes in the order they are tried (primary first).
    first_wave : {"all", "loudspeaker_first"}
        Who wave 1 goes to: every target, or the loudspeakers plus the SMS
        recipients of villages that have none.
    retry_silent_loudspeakers : bool
        Command a loudspeaker again after it stayed silent.
    """

    wait_s: float = 120.0
    target: float = 0.95
    max_attempts: int = 3
    sms_routes: tuple[str, ...] = ("sms",)
    first_wave: FirstWave = "all"
    retry_silent_loudspeakers: bool = False

    def __post_init__(self) -> None:
        if self.wait_s <= 0:
            raise ValueError(f"escalation wait_s is {self.wait_s}; expected s > 0")
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"coverage target {self.target} is outside (0, 1]")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts is {self.max_attempts}; expected >= 1")
        if not self.sms_routes:
            raise ValueError("sms_routes is empty; expected at least one SMS route")
        if self.first_wave not in ("all", "loudspeaker_first"):
            raise ValueError(
                f"first_wave {self.first_wave!r} is not 'all' or 'loudspeaker_first'"
            )


@dataclass(frozen=True)
class Attempt:
    """One attempt at a target: its wave, route and outcome so far."""

    wave: int
    route: str
    outcome: Outcome


@dataclass(frozen=True)
class Send:
    """One send of a wave: a target on a route."""

    target: Target
    route: str
    wave: int


@dataclass(frozen=True)
class Verdict:
    """What :func:`next_wave` decided: more sends, or done with an outcome."""

    done: bool
    outcome: str | None
    reason: str
    sends: tuple[Send, ...] = ()


def outcome_of(state: str, *, retryable: bool = True) -> Outcome:
    """The attempt outcome of a receipt state (see the module table)."""
    if state in ("delivered", "played"):
        return "reached"
    if state in ("failed", "expired"):
        return "failed"
    if state == "refused":
        return "refused" if retryable else "rejected"
    if state == "timeout":
        return "timeout"
    if state == "skipped":
        return "skipped"
    if state == "unknown":
        return "pending"
    raise ValueError(f"receipt state {state!r} has no escalation outcome")


def deadline_of(
    sent: datetime, expires: datetime, taken_at: datetime, *, honour_expiry: bool
) -> datetime:
    """When dispatch of an alert must stop.

    With ``honour_expiry`` the alert's own ``expires``. Without it (a replay
    of past events) the alert keeps its validity, ``expires - sent``,
    counted from when the dispatcher took it.
    """
    if honour_expiry:
        return expires
    return taken_at + max(expires - sent, timedelta(0))


def timed_out(sent_at: datetime, now: datetime, policy: Policy) -> bool:
    """True once a send has waited ``policy.wait_s`` for its final receipt."""
    return (now - sent_at).total_seconds() >= policy.wait_s


def route_for(target: Target, policy: Policy) -> str:
    """The first route of a target."""
    return policy.sms_routes[0] if target.channel == "sms" else LOUDSPEAKER_ROUTE


def first_wave(targets: Iterable[Target], policy: Policy) -> list[Send]:
    """The sends of wave 1."""
    chosen = list(targets)
    if policy.first_wave == "loudspeaker_first":
        served = {t.village_id for t in chosen if t.channel == "loudspeaker"}
        chosen = [
            t
            for t in chosen
            if t.channel == "loudspeaker" or t.village_id not in served
        ]
    return [Send(t, route_for(t, policy), 1) for t in chosen]


def next_route(
    target: Target, history: Sequence[Attempt], policy: Policy
) -> str | None:
    """The route of a target's next attempt, or None if it is not to be retried."""
    if not history:
        return route_for(target, policy)
    last = history[-1]
    if last.outcome not in RETRYABLE or len(history) >= policy.max_attempts:
        return None
    if target.channel == "loudspeaker":
        if last.outcome == "rejected":
            return None
        if last.outcome == "timeout" and not policy.retry_silent_loudspeakers:
            return None
        return LOUDSPEAKER_ROUTE
    routes = policy.sms_routes
    usable = [
        r
        for r in routes
        if all(not (a.route == r and a.outcome == "rejected") for a in history)
    ]
    if not usable:
        return None
    after = routes.index(last.route) + 1 if last.route in routes else 0
    for route in routes[after:]:
        if route in usable:
            return route
    return last.route if last.route in usable else usable[-1]


def next_wave(
    *,
    wave: int,
    targets: Iterable[Target],
    attempts: Mapping[str, Sequence[Attempt]],
    village_share: Mapping[str, float],
    coverage_ratio: float,
    now: datetime,
    deadline: datetime,
    policy: Policy,
) -> Verdict:
    """Decide after wave ``wave`` is over (see the module docstring).

    Parameters
    ----------
    wave : int
        The wave just over.
    targets : iterable of Target
        Every target the alert may use.
    attempts : mapping of str to sequence of Attempt
        Attempts so far per target id, oldest first.
    village_share : mapping of str to float
        Share of each audience village reached so far, 0..1.
    coverage_ratio : float
        Share of the audience reached, 0..1.
    now, deadline : datetime
        The clock and the alert's deadline.
    policy : Policy
    """
    if coverage_ratio >= policy.target - 1e-12:
        return Verdict(
            True, "reached", f"coverage {coverage_ratio:.1%} after wave {wave}"
        )
    if now >= deadline:
        return Verdict(
            True,
            "expired",
            f"alert expired after wave {wave} at coverage {coverage_ratio:.1%}",
        )

    sends: list[Send] = []
    given_up = {"sms": 0, "loudspeaker": 0}
    for target in targets:
        history = list(attempts.get(target.target_id, ()))
        if any(a.outcome == "reached" for a in history):
            continue
        if not history:
            if village_share.get(target.village_id, 1.0) < policy.target - 1e-12:
                sends.append(Send(target, route_for(target, policy), wave + 1))
            continue
        if history[-1].outcome in ("pending", "skipped"):
            continue
        route = next_route(target, history, policy)
        if route is None:
            given_up[target.channel] += 1
        else:
            sends.append(Send(target, route, wave + 1))
    if sends:
        return Verdict(
            False, None, f"wave {wave + 1}: {len(sends)} send(s)", tuple(sends)
        )
    return Verdict(
        True,
        "exhausted",
        f"nothing left to try after wave {wave} at coverage {coverage_ratio:.1%} "
        f"({given_up['sms']} recipient(s) and {given_up['loudspeaker']} "
        "loudspeaker(s) unreached with no retry left)",
    )
