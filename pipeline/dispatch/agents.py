"""The dispatcher's faust agents: from ``alerts.cap`` to people, with receipts.

::

    alerts.cap --take--> dispatch_alerts, dispatch_waves --> dispatch
    dispatch   --send (ledger: sending -> sent | refused)--> gateways
    gateways   --reports--> receipts <-- timeouts, refusals, skips
    receipts   --account--> ledger, dispatch_reach, dispatch_coverage
                            --wave over--> next wave --> dispatch

All three topics are keyed by warning id and have four partitions, so the
records and table entries of one warning live in the same partition number
everywhere, and faust's co-partitioning assignor gives them to one worker.
Every table write happens while a record of that warning is processed, so
it lands in that partition's changelog (see :mod:`pipeline.dispatch.state`).

Why nobody gets a message twice, and no due message is lost
-------------------------------------------------------------

faust is at-least-once: it commits a record's offset only after the record
was processed, and it flushes the producer (changelog writes and produced
records alike) before every commit. So after a crash every record whose
effects might not all be on the broker is read again, and a handler that
finds its own earlier effects must complete them, not repeat them.

*Sends.* A send is keyed by (CAP identifier, target, wave) through its send
id, derived from the input only. Before the gateway is called the send's
first ledger entry, ``sending``, goes to the ledger's changelog and the
sender waits until the broker acknowledges it; only then does the gateway
get the message. An order read again (or produced again) finds the entry
and is dropped; two copies taken at once by two concurrent actors are
stopped by the in-process set of orders being handled. Kill -9 around the
gateway call:

- before the ``sending`` record reached the broker: the gateway was not
  called and the order was not committed; it is read again, finds no
  entry, and is sent. Nothing lost, nothing doubled.
- after it: the entry says ``sending`` and the order read again is
  dropped. The restarted worker asks each route about the sends it finds
  ``sending`` or ``sent`` without a final receipt, and gives each a fresh
  wave wait. A gateway keeps reports for a client that went away (the MQTT
  broker's persistent session; an SMSC on rebind), and the dry-run routes
  invent them again from their journal. The journal also tells which sends
  the gateway never took; those are sent now, under the same send id.

*Plans.* A wave is written to ``dispatch_waves`` and its size to the plan,
then its orders are produced. An alert read again, or the timer finding a
wave this process has not produced, produces the wave's orders again for
every send the ledger does not hold; the sender drops the extra ones. A
receipt read again re-checks whether its wave is over, so a wave step the
first reading did not finish is finished then.

*Receipts.* A receipt changes a ledger entry only forward (the first final
verdict stands, a reach overrides a failure or timeout) and a target's
reach is written once, so a repeated receipt changes nothing and coverage
counts everyone once.

*Rebalance.* The tables are the truth; the in-memory runtimes are dropped
whenever partitions move and rebuilt from the tables.

Three windows remain, each marked ``XXX`` where it opens. (1) A real gateway
cannot say whether it took a send: one marked ``sending`` when the worker
died either went out or not. It is not sent again at once; if no report
comes in the fresh wave wait it times out, and it is retried only while
coverage is short of the target: so either that recipient may get it twice
(sent, report lost, coverage short) or, once the target is met, never (not
sent). (2) Kannel calls a dlr-url once; a report made while no endpoint
listens is lost, and that send times out as in (1). (3) A worker killed
while flushing a wave step may leave the wave record shorter than the plan
says; the plan is mended to what was recorded and the targets left out wait
one wave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from models.channels import load_inventory
from models.targeting import LoudspeakerGroup
from pipeline.deadletter import dead_letter
from pipeline.dispatch.accounting import Accounting
from pipeline.dispatch.config import DispatchConfig
from pipeline.dispatch.context import DispatchContext
from pipeline.dispatch.gateways import Routes
from pipeline.dispatch.metrics import make_dispatch_metrics
from pipeline.dispatch.planner import Planner
from pipeline.dispatch.sender import Sender
from schemas import registry
from schemas.errors import CapError, ConfigError, InputError

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """The dispatcher of one worker: context, parts and faust agents."""

    def __init__(self, wiring: Any) -> None:
        self.wiring = wiring
        self.app = wiring.app
        settings = wiring.settings
        self.config = DispatchConfig.from_settings(settings)
        inventory = load_inventory(self.config.inventory)
        offline = LoudspeakerGroup.parse(",".join(sorted(self.config.offline)))
        offline_ids = frozenset(
            ls.loudspeaker_id
            for ls in inventory.loudspeakers
            if self.config.offline and offline.contains(ls)
        )
        for name in ("dispatch", "receipts"):
            wiring.topics[name] = self.app.topic(
                settings.topic(name),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )
        tables = wiring.tables
        self.ctx = DispatchContext(
            config=self.config,
            inventory=inventory,
            alerts=tables["dispatch_alerts"],
            waves=tables["dispatch_waves"],
            ledger=tables["dispatch_ledger"],
            reach=tables["dispatch_reach"],
            coverage=tables["dispatch_coverage"],
            routes=Routes(self.config, settings, offline_ids),
            publish_order=self._publisher("dispatch"),
            publish_receipt=self._publisher("receipts"),
            clock=utc_now,
            metrics=make_dispatch_metrics(wiring.metrics.registry),
            durable_set=self._durable_set,
        )
        self.planner = Planner(self.ctx)
        self.sender = Sender(self.ctx, self.planner)
        self.accounting = Accounting(self.ctx, self.planner)
        self._ready = asyncio.Event()
        self._last_offset: dict[tuple[str, int], int] = {}

    def _publisher(
        self, topic: str
    ) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        async def publish(key: str, record: dict[str, Any]) -> None:
            await self.wiring.topics[topic].send(
                key=key.encode("utf-8"), value=registry.encode(record)
            )

        return publish

    @staticmethod
    async def _durable_set(table: Any, key: str, value: Any) -> None:
        # The changelog record goes straight to the producer, not through
        # faust's buffer, and is awaited until the broker acknowledges it.
        # Only for a key's first write: an older buffered value of the same
        # key could otherwise land after it (see pipeline.dispatch.sender).
        future = await table.changelog_topic.send(
            key=key,
            value=value,
            partition=table.partition_for_key(key),
            key_serializer=table.key_serializer,
            value_serializer=table.value_serializer,
        )
        table.data[key] = value
        await future

    def register(self) -> None:
        """Attach the agents, the timer and the gateway task to the app."""
        self._agent("alerts.cap", "cap_alert/1", self.planner.take, skip_repeats=True)
        self._agent(
            "dispatch",
            "dispatch_order/1",
            self.sender.handle,
            concurrency=self.config.concurrency,
            wait_ready=True,
        )
        self._agent("receipts", "receipt/1", self.accounting.handle, skip_repeats=True)

        async def dispatch_tick() -> None:
            if self.app.rebalancing or self.app.in_recovery:
                return
            try:
                await self.accounting.tick()
            except Exception:  # a bug must not stop the timer
                logger.exception("dispatch tick failed")

        self.app.timer(self.config.tick_s, name="dispatch_tick")(dispatch_tick)
        self.app.task(self._run_routes)
        self.app.on_partitions_assigned.connect(self._moved)
        self.app.on_partitions_revoked.connect(self._moved)

    async def _moved(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.ctx.forget()

    async def _run_routes(self) -> None:
        routes = self.ctx.routes
        await routes.start()
        self._ready.set()
        try:
            await self.sender.pump()
        finally:
            await routes.close()

    def _first_delivery(self, message: Any) -> bool:
        # faust 0.15.3 can hand a record to an agent twice when a worker
        # starts (docs/kafka.md); skip offsets this process has handled.
        tp = (message.topic, message.partition)
        if self._last_offset.get(tp, -1) >= message.offset:
            return False
        self._last_offset[tp] = message.offset
        return True

    def _agent(
        self,
        topic: str,
        schema: str,
        handle: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        concurrency: int = 1,
        skip_repeats: bool = False,
        wait_ready: bool = False,
    ) -> None:
        source = self.wiring.topics[topic]
        name = f"dispatch_{topic.replace('.', '_')}_agent"

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                if skip_repeats and not self._first_delivery(event.message):
                    continue
                if wait_ready:
                    await self._ready.wait()
                raw = event.value
                try:
                    await handle(registry.decode(raw, schema))
                except (InputError, CapError, ConfigError) as exc:
                    await self._dead(topic, exc, raw, event.message)
                except Exception as exc:  # a bug must not stop the worker
                    logger.exception(
                        "dispatch: unexpected failure on a %s record", topic
                    )
                    await self._dead(topic, exc, raw, event.message)

        agent.__name__ = name
        self.app.agent(source, name=name, concurrency=concurrency)(agent)

    async def _dead(
        self, topic: str, exc: BaseException, raw: bytes | None, message: Any
    ) -> None:
        letter = dead_letter(
            source=f"dispatch {topic} agent",
            exc=exc,
            original=raw,
            now=utc_now(),
            topic=self.wiring.settings.topic(topic),
            partition=message.partition,
            offset=message.offset,
        )
        logger.warning("dead letter from dispatch %s: %s", topic, letter["reason"])
        await self.wiring.topics["deadletter"].send(
            key=topic.encode(), value=registry.encode(letter)
        )


def register(wiring: Any) -> Dispatcher | None:
    """Add the dispatcher to a :class:`pipeline.app.Wiring`; return it.

    Nothing is added when the settings say ``dispatch_enabled = false``.
    """
    if not wiring.settings.dispatch_enabled:
        logger.info("dispatch is disabled in this worker")
        return None
    dispatcher = Dispatcher(wiring)
    dispatcher.register()
    return dispatcher
