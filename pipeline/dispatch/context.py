"""What the parts of the dispatcher share: tables, registry, routes, clock, outputs.

:class:`DispatchContext` is built once per worker by
:func:`pipeline.dispatch.agents.register` (faust tables, topics, the
producer's acknowledgement) or by a test (dicts and lists). The planner,
the sender and the accounting take it and nothing else, so the same code
runs in both.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.channels import Inventory
from models.targeting import Target, Targeting, loudspeaker_target, recipient_target
from pipeline.dispatch.config import DispatchConfig
from pipeline.dispatch.gateways import Routes
from pipeline.dispatch.metrics import DispatchMetrics
from pipeline.dispatch.state import AlertRuntime, Table

logger = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]
DurableSet = Callable[[Table, str, Any], Awaitable[None]]


async def plain_set(table: Table, key: str, value: Any) -> None:
    """Set a table entry (a dict's entry is as durable as it gets)."""
    table[key] = value


@dataclass
class DispatchContext:
    """The dispatcher's shared state and outputs.

    ``publish_order`` and ``publish_receipt`` put one record on the
    ``dispatch`` or ``receipts`` topic under a warning id; ``durable_set``
    sets a table entry and returns once its changelog record is on the
    broker. ``sent_here`` holds the sends this process gave a gateway and
    ``handling`` the orders being handled right now (so that two copies of
    one order taken by two concurrent actors are not both sent).
    """

    config: DispatchConfig
    inventory: Inventory
    alerts: Table
    waves: Table
    ledger: Table
    reach: Table
    coverage: Table
    routes: Routes
    publish_order: Publish
    publish_receipt: Publish
    clock: Callable[[], datetime]
    metrics: DispatchMetrics
    durable_set: DurableSet = plain_set
    runtimes: dict[str, AlertRuntime] = field(default_factory=dict)
    sent_here: set[str] = field(default_factory=set)
    handling: set[str] = field(default_factory=set)
    targeting: Targeting = field(init=False)
    _targets: dict[str, Target] = field(init=False)

    def __post_init__(self) -> None:
        self.targeting = Targeting(self.inventory)
        self._targets = {
            r.recipient_id: recipient_target(r) for r in self.inventory.recipients
        }
        self._targets.update(
            (ls.loudspeaker_id, loudspeaker_target(ls))
            for ls in self.inventory.loudspeakers
        )
        self._phones = {r.recipient_id: r.phone for r in self.inventory.recipients}
        self._topics = {
            ls.loudspeaker_id: ls.mqtt_topic for ls in self.inventory.loudspeakers
        }

    def target(self, target_id: str) -> Target | None:
        """The registry's target with this id, or None."""
        return self._targets.get(target_id)

    def address(self, target_id: str) -> str | None:
        """The phone number or MQTT topic of a target, looked up at send time."""
        return self._phones.get(target_id) or self._topics.get(target_id)

    def forget(self) -> None:
        """Drop every alert runtime (a rebalance moved partitions)."""
        if self.runtimes:
            logger.info(
                "dispatch: partitions moved; %d runtime(s) dropped", len(self.runtimes)
            )
        self.runtimes.clear()
