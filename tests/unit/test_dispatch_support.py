"""Shared pieces of the dispatcher tests: small inventories, CAP alerts, a bus.

- :func:`write_inventory` writes the three registry files of a hand-made
  inventory (every number in the tests is worked out from these rows).
- :func:`alert_of` builds a real CAP 1.2 alert with the pipeline's own
  writer, for towns of the bundled Zhaoqing region, and wraps it as the
  ``cap_alert/1`` record the dispatcher reads from ``alerts.cap``.
- :class:`Bus` runs the dispatcher in one process with dicts for tables
  and queues for topics, the real dry-run gateways behind it.

No test lives here; the module is named after the dispatcher so that the
test collection finds and imports it like the tests that use it.
"""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.cap_writer import build_alert, envelope
from models.channels import load_inventory
from models.region import default_region
from models.targeting import LoudspeakerGroup
from pipeline.dispatch.accounting import Accounting
from pipeline.dispatch.config import DispatchConfig
from pipeline.dispatch.context import DispatchContext
from pipeline.dispatch.gateways import Routes
from pipeline.dispatch.metrics import make_dispatch_metrics
from pipeline.dispatch.planner import Planner
from pipeline.dispatch.sender import Sender
from pipeline.settings import Settings
from schemas import registry

TOWN_A = "441202001"  # 端州区 城东街道
TOWN_B = "441202003"  # 端州区 城西街道
HANG_GUARD_S = 60.0


def write_inventory(
    folder: Path,
    villages: list[tuple[str, str, int, float, float]],
    recipients: list[tuple[str, str, str, str, bool]],
    loudspeakers: list[tuple[str, str, str, int]],
) -> Path:
    """Write villages (id, town, population, lon, lat), recipients (id, phone,
    town, village, drill) and loudspeakers (id, village, town, covered)."""
    folder.mkdir(parents=True, exist_ok=True)
    where = {v[0]: (v[3], v[4]) for v in villages}
    with (folder / "villages.csv").open("w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["village_id", "town_code", "name", "population", "lon", "lat"])
        for vid, town, population, lon, lat in villages:
            w.writerow([vid, town, f"村{vid}", population, lon, lat])
    with (folder / "recipients.csv").open("w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["recipient_id", "phone", "town_code", "village_id", "drill"])
        for rid, phone, town, vid, drill in recipients:
            w.writerow([rid, phone, town, vid, "true" if drill else "false"])
    with (folder / "loudspeakers.csv").open("w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(
            [
                "loudspeaker_id",
                "village_id",
                "town_code",
                "lon",
                "lat",
                "population_covered",
                "mqtt_topic",
                "language",
            ]
        )
        for lid, vid, town, covered in loudspeakers:
            lon, lat = where[vid]
            topic = f"ews/ls/{town[:6]}/{vid}/cmd"
            w.writerow([lid, vid, town, lon, lat, covered, topic, "zh-CN"])
    load_inventory(folder)  # the rows must pass the registry's own checks
    return folder


def event(
    codes: list[str],
    *,
    sequence: int = 1,
    action: str = "issue",
    level: str | None = "orange",
    previous: str | None = None,
    status: str = "Actual",
    observed: datetime | None = None,
    valid_h: float = 3.0,
    warning_id: str = "rainstorm:test:1",
) -> dict[str, Any]:
    """A ``warning_event/1`` record, as the scoring agents write them."""
    region = default_region()
    observed = observed or datetime.now(UTC).replace(microsecond=0)
    valid_to = observed if action == "cancel" else observed + timedelta(hours=valid_h)
    iso = lambda t: t.isoformat(timespec="seconds")  # noqa: E731
    return {
        "schema": "warning_event/1",
        "event_id": f"{warning_id}:{sequence}",
        "warning_id": warning_id,
        "hazard": "rainstorm",
        "ruleset": "cma-rainstorm",
        "area": {"codes": codes, "names": [region.town(c).name for c in codes]},
        "level": level,
        "previous_level": previous,
        "action": action,
        "sequence": sequence,
        "observed_at": iso(observed),
        "valid_from": iso(observed),
        "valid_to": iso(valid_to),
        "status": status,
        "trigger": {"accumulation_3h_mm": 61.2, "statistic": "q90"},
    }


def alert_of(ev: dict[str, Any], earlier: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The ``cap_alert/1`` record of ``ev``; ``earlier`` are the warning's
    earlier records (their identifiers become the references)."""
    region = default_region()
    identifier, xml = build_alert(
        ev,
        towns=[region.town(c) for c in ev["area"]["codes"]],
        sender="ews@zhaoqing.example",
        agency_code="44120041600000",
        previous_identifiers=[e["identifier"] for e in earlier],
        previous_sent=[datetime.fromisoformat(e["sent"]) for e in earlier],
    )
    record = envelope(identifier, xml, ev)
    registry.validate(record, "cap_alert/1")
    return record


def settings_for(inventory: Path, journal: Path, **changes: Any) -> Settings:
    """Dispatcher settings for a test: dry run, fast waves, no failures."""
    base = dict(
        dispatch_inventory=str(inventory),
        dispatch_journal_dir=str(journal),
        dispatch_wave_wait_s=1.0,
        dispatch_tick_s=0.1,
        dispatch_dryrun_sms_failure=0.0,
        dispatch_dryrun_ls_failure=0.0,
        dispatch_dryrun_delay_s=0.05,
        dispatch_dryrun_delay_sigma=0.0,
    )
    base.update(changes)
    return replace(Settings(), **base)


def journal(path: Path, kind: str = "send") -> list[dict[str, Any]]:
    """The records of one kind in a dry-run journal."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r["kind"] == kind]


class Bus:
    """The dispatcher in one process: dict tables, queue topics, dry-run routes."""

    def __init__(self, settings: Settings, tables: dict[str, dict] | None = None):
        self.settings = settings
        self.config = DispatchConfig.from_settings(settings)
        self.tables = tables or {
            n: {} for n in ("alerts", "waves", "ledger", "reach", "coverage")
        }
        self.orders: list[dict[str, Any]] = []
        self.receipts: list[dict[str, Any]] = []
        self._orders: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._receipts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        inventory = load_inventory(self.config.inventory)
        group = LoudspeakerGroup(keys=self.config.offline)
        offline = frozenset(
            ls.loudspeaker_id for ls in inventory.loudspeakers if group.contains(ls)
        )
        self.ctx = DispatchContext(
            config=self.config,
            inventory=inventory,
            alerts=self.tables["alerts"],
            waves=self.tables["waves"],
            ledger=self.tables["ledger"],
            reach=self.tables["reach"],
            coverage=self.tables["coverage"],
            routes=Routes(self.config, settings, offline),
            publish_order=self._order,
            publish_receipt=self._receipt,
            clock=lambda: datetime.now(UTC),
            metrics=make_dispatch_metrics(),
        )
        self.planner = Planner(self.ctx)
        self.sender = Sender(self.ctx, self.planner)
        self.accounting = Accounting(self.ctx, self.planner)
        self._tasks: list[asyncio.Task[None]] = []

    async def _order(self, key: str, record: dict[str, Any]) -> None:
        registry.validate(record, "dispatch_order/1")
        self.orders.append(record)
        await self._orders.put(record)

    async def _receipt(self, key: str, record: dict[str, Any]) -> None:
        registry.validate(record, "receipt/1")
        self.receipts.append(record)
        await self._receipts.put(record)

    async def start(self) -> None:
        await self.ctx.routes.start()

        async def loop(queue: asyncio.Queue, handle: Any) -> None:
            while True:
                await handle(await queue.get())

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.config.tick_s)
                await self.accounting.tick()

        self._tasks = [
            asyncio.create_task(loop(self._orders, self.sender.handle)),
            asyncio.create_task(loop(self._receipts, self.accounting.handle)),
            asyncio.create_task(tick()),
            asyncio.create_task(self.sender.pump()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ctx.routes.close()

    async def settle(self, identifiers: list[str]) -> None:
        """Wait until the dispatch of every alert in ``identifiers`` is over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANG_GUARD_S
        while True:
            for task in self._tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            plans = [self.ctx.alerts.get(i) for i in identifiers]
            if all(p is not None and p["state"] == "closed" for p in plans):
                return
            if loop.time() > deadline:
                raise AssertionError(f"dispatch not over after {HANG_GUARD_S} s")
            await asyncio.sleep(0.05)

    def coverage(self, identifier: str) -> dict[str, Any]:
        return self.ctx.coverage[identifier]
