"""What the dispatcher did in a run, read back from Kafka, for the summary.

The ``dispatch_coverage`` table's changelog (compacted, keyed by CAP
identifier) holds the latest coverage snapshot of every alert;
:func:`dispatch_rows` reads it to the end and keeps the last value per
alert. :func:`wait_dispatch_over` waits until every alert on
``alerts.cap`` that is disseminated has a closed snapshot, and
:func:`render_dispatch` prints the table of the run summary. No phone
number is in any of them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.dispatch.planner import DISPATCHED_STATUSES, DISPATCHED_TYPES
from pipeline.settings import Settings
from schemas.errors import BrokerError


def _read(settings: Settings, topic: str) -> list[Any]:
    from pipeline.kafka_security import client_kwargs  # noqa: PLC0415
    from pipeline.summary import read_topic  # noqa: PLC0415 (summary imports us)

    return read_topic(settings.bootstrap, topic, security=client_kwargs(settings))


def coverage_topic(settings: Settings) -> str:
    return f"{settings.app_id}-dispatch_coverage-changelog"


def snapshots(settings: Settings) -> dict[str, dict[str, Any]]:
    """The latest coverage snapshot of every alert, by CAP identifier."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in _read(settings, coverage_topic(settings)):
        if rec.value is None or rec.key is None:
            continue
        latest[json.loads(rec.key)] = json.loads(rec.value)
    return latest


def row(snap: dict[str, Any]) -> dict[str, Any]:
    """One alert of the summary's ``dispatch`` list."""
    reached = snap["reached"]
    return {
        "identifier": snap["identifier"],
        "msgType": snap["msgType"],
        "status": snap["status"],
        "hazard": snap.get("hazard"),
        "level": snap.get("level"),
        "outcome": snap["outcome"],
        "population": snap["population"],
        "population_in_area": snap["population_in_area"],
        "reached": round(reached["any"], 1),
        "reached_by_channel": {
            "sms": round(reached["sms"], 1),
            "loudspeaker": round(reached["loudspeaker"], 1),
        },
        "coverage": snap["coverage"],
        "target": snap["target"],
        "seconds_to_target": snap["seconds_to_target"],
        "waves": snap["wave"],
        "sends": snap["sends"],
        "reason": snap["reason"],
    }


def dispatch_rows(settings: Settings) -> list[dict[str, Any]]:
    """The summary's ``dispatch`` list, in the order the alerts were sent."""
    snaps = snapshots(settings).values()
    return [row(s) for s in sorted(snaps, key=lambda s: (s["sent"], s["identifier"]))]


def disseminated(settings: Settings) -> set[str]:
    """Identifiers on ``alerts.cap`` that the dispatcher takes."""
    found = set()
    for rec in _read(settings, settings.topic("alerts.cap")):
        env = json.loads(rec.value)
        if env["msgType"] in DISPATCHED_TYPES and env["status"] in DISPATCHED_STATUSES:
            found.add(env["identifier"])
    return found


def wait_dispatch_over(
    settings: Settings, *, timeout_s: float = 600.0, poll_s: float = 1.0
) -> float:
    """Block until every disseminated alert's dispatch is over; return seconds.

    Raises :class:`BrokerError` on timeout, naming how many are still open.
    """
    start = time.monotonic()
    wanted = disseminated(settings)
    while True:
        snaps = snapshots(settings)
        open_ = [i for i in wanted if (snaps.get(i) or {}).get("state") != "closed"]
        if not open_:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise BrokerError(
                f"dispatch of {len(open_)} of {len(wanted)} alerts still open after "
                f"{timeout_s:.0f} s, e.g. {sorted(open_)[0]}"
            )
        time.sleep(poll_s)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_dispatch(rows: list[dict[str, Any]], console: Console) -> None:
    """Print one row per alert: people in the area and those it is for, reached
    by SMS, by loudspeaker (ls) and in all, and the time to the target."""
    if not rows:
        console.print("Dispatch: no alert was disseminated")
        return
    target = rows[0]["target"]
    table = Table(
        title=f"Dispatch per alert (people; target {target:.0%})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ("alert", "type", "outcome", "in area", "for", "by sms", "by ls",
               "reached", f"s to {target:.0%}", "waves")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col in columns[:3] else "right")
    for r in rows:
        table.add_row(
            r["identifier"][-13:],
            r["msgType"],
            r["outcome"] or "open",
            f"{r['population_in_area']:,}",
            f"{r['population']:,}",
            f"{r['reached_by_channel']['sms']:,.0f}",
            f"{r['reached_by_channel']['loudspeaker']:,.0f}",
            f"{100 * r['coverage']:.1f}%",
            _seconds(r["seconds_to_target"]),
            str(r["waves"]),
        )
    # Piped output is 80 columns by default, too narrow for ten columns.
    width = console.width
    if not console.is_terminal:
        console.width = max(width, 110)
    try:
        console.print(table)
    finally:
        console.width = width
    reached = sum(1 for r in rows if r["seconds_to_target"] is not None)
    console.print(
        f"Dispatch: {len(rows)} alerts, {reached} reached {target:.0%} of the people "
        f"they were for; {sum(r['sends'] for r in rows):,} sends"
    )
