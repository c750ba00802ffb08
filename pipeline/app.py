"""The faust application: topics, tables and the four agents.

::

    obs.radar --radar--> rain.area --rainstorm--> warnings --cap--> alerts.cap
    obs.gauge --flood-------------------------->/
       (every agent) --bad record--> deadletter

State lives in tables backed by compacted changelog topics (the in-memory
store, recovered from the changelog when a worker starts), so a restarted
worker neither forgets a warning in force nor issues it again. Processing
is at-least-once; every effect carries an identifier derived from its input
(see :mod:`models.lifecycle`), and the CAP agent skips an event whose
sequence it has already published, so a re-read record has no second effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from kafka import KafkaConsumer, TopicPartition

from models.flood import FloodParams, ladder
from models.lifecycle import Timing
from models.region import default_region, load_region
from models.rules import COLOURS, load_ruleset
from models.verification import LiveScores, warning_steps
from pipeline.agents.cap import CapPublisher
from pipeline.agents.radar import RadarAreas
from pipeline.agents.scoring import FloodScorer, RainstormScorer, parse_time
from pipeline.deadletter import dead_letter
from pipeline.dispatch import agents as dispatch_agents
from pipeline.dispatch.state import TABLES as DISPATCH_TABLES
from pipeline.hazards import fire, geo
from pipeline.kafka_security import broker_credentials, client_kwargs
from pipeline.metrics import Metrics, WorkerProbe, instrument, make_metrics
from pipeline.settings import Settings
from schemas import registry
from schemas.errors import CapError, InputError

logger = logging.getLogger(__name__)

TABLES = ("rain_windows", "rain_state", "gauge_state", "cap_history", *DISPATCH_TABLES)
TABLES += (*fire.TABLES, *geo.TABLES)


def _decided(events: list[dict[str, Any]]) -> list[tuple[str | None, float, float]]:
    """(level, time, valid_to) of warning events, POSIX seconds, for verification."""
    return [
        (
            ev["level"],
            parse_time(ev["observed_at"]).timestamp(),
            parse_time(ev["valid_to"]).timestamp(),
        )
        for ev in events
    ]


def changelog_topic(settings: Settings, table: str) -> str:
    """Name of a table's changelog topic, as faust derives it."""
    return f"{settings.app_id}-{table}-changelog"


def faust_options(settings: Settings) -> dict[str, Any]:
    """The options of every faust app of ``settings`` (see :func:`create_app`)."""
    # Tables live in memory and their changelogs; faust still makes a
    # directory for them, kept out of the working directory.
    datadir = Path(tempfile.gettempdir()) / "ews-faust" / settings.app_id
    datadir.parent.mkdir(exist_ok=True)
    return {
        "broker": f"kafka://{settings.bootstrap}",
        # TLS and SASL of the settings (pipeline.kafka_security); None: PLAINTEXT
        "broker_credentials": broker_credentials(settings),
        "store": "memory://",
        "datadir": str(datadir),
        # Tables store JSON; topics carry raw bytes (see Wiring).
        "key_serializer": "json",
        "value_serializer": "json",
        "topic_partitions": 4,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 20.0,
        "broker_commit_every": 100,
        "broker_commit_interval": 1.0,
        "stream_buffer_maxsize": 64,
        "web_enabled": settings.web_port > 0,
        "web_bind": "127.0.0.1",
        "web_port": settings.web_port or 6066,
        "producer_max_request_size": 1_048_576,
        "consumer_max_fetch_size": 4 * 1_048_576,
    }


def create_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    """Build the faust app with every agent registered."""
    metrics = metrics or make_metrics()
    app = faust.App(settings.app_id, **faust_options(settings))
    wiring = Wiring(app, settings, metrics)
    wiring.register()
    wiring.instrument()
    return app


class Wiring:
    """Registers topics, tables and agents on one app."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.topics = {
            name: app.topic(
                settings.topic(name),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )
            for name in (
                "obs.radar",
                "obs.gauge",
                "obs.fire",
                "obs.geo",
                "geo.towns",
                "fire.counties",
                "rain.area",
                "warnings",
                "alerts.cap",
                "deadletter",
            )
        }
        self.tables = {
            name: app.Table(name, default=None, partitions=4, key_type=str)
            for name in TABLES
        }
        region = (
            default_region()
            if settings.region == "zhaoqing"
            else load_region(settings.region)
        )
        names = {t.code: t.name for t in region.towns}
        status = settings.extra.get("status", "Actual")
        rules = load_ruleset(settings.rainstorm_ruleset)
        self.rain = RainstormScorer(rules, names, status, frozenset(names))
        self.radar = RadarAreas(region, rules.area_statistic, rules.windows_h)
        self.flood = FloodScorer(
            FloodParams(),
            Timing(
                valid_h=settings.flood_valid_h,
                hold_min=settings.flood_hold_min,
                extend_before_min=settings.flood_extend_before_min,
            ),
            names,
            status,
        )
        self.cap = CapPublisher(region, settings)
        # XXX: running scores live in memory: a restarted worker starts them afresh
        # and each worker scores only its own partitions (merge them upstream).
        self.live = LiveScores(rules)
        self._scored_at = 0.0

    def instrument(self) -> None:
        """Keep the metrics read from state (partitions, warnings) current."""
        sources = {t.get_topic_name(): name for name, t in self.topics.items()}
        counties = {t.code: t.county_code for t in self.cap.region.towns}
        probe = WorkerProbe(self.metrics, sources, counties)
        instrument(self.app, probe, self.tables)

    def register(self) -> None:
        """Attach the four agents."""
        self._agent("obs.radar", "radar_frame/1", self._on_radar)
        self._agent("rain.area", "area_rain/1", self._on_area_rain)
        self._agent("obs.gauge", "gauge_obs/1", self._on_gauge)
        self._agent("warnings", "warning_event/1", self._on_warning)
        fire.register(self)
        geo.register(self)
        self.dispatcher = dispatch_agents.register(self)

    def _agent(
        self,
        topic: str,
        schema: str | Callable[[bytes], dict[str, Any]],
        handle: Callable[[Any, dict[str, Any]], Awaitable[None]],
    ) -> None:
        source = self.topics[topic]
        name = f"{topic.replace('.', '_')}_agent"

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                self.metrics.consumed(topic, event.message.partition)
                raw = event.value
                try:
                    msg = (
                        registry.decode(raw, schema)
                        if isinstance(schema, str)
                        else schema(raw)  # a decoder for a topic of several schemas
                    )
                    await handle(event.message, msg)
                except (InputError, CapError) as exc:
                    await self._dead(topic, exc, raw, event.message)
                except Exception as exc:  # a bug must not stop the worker
                    logger.exception("unexpected failure on a %s record", topic)
                    await self._dead(topic, exc, raw, event.message)

        agent.__name__ = name
        self.app.agent(source, name=name)(agent)

    async def _dead(
        self, topic: str, exc: BaseException, raw: bytes | None, message: Any
    ) -> None:
        letter = dead_letter(
            source=f"{topic} agent",
            exc=exc,
            original=raw,
            now=datetime.now(UTC),
            topic=self.settings.topic(topic),
            partition=message.partition,
            offset=message.offset,
        )
        self.metrics.deadletters.labels(topic, letter["reason_class"]).inc()
        logger.warning("dead letter from %s: %s", topic, letter["reason"])
        try:
            value = registry.encode(letter)
        except InputError:  # never lose the record over its own letter
            logger.exception("dead letter does not fit its schema; sent unchecked")
            value = json.dumps(letter).encode()
        await self.topics["deadletter"].send(key=topic.encode(), value=value)

    async def _publish(
        self,
        topic: str,
        key: str,
        msg: dict[str, Any],
        timestamp: float | None = None,
        *,
        wait: bool = False,
        partition: int | None = None,
    ) -> None:
        """Send ``msg``; with ``wait``, return once the broker has taken it."""
        delivered = await self.topics[topic].send(
            key=key.encode(),
            value=registry.encode(msg),
            timestamp=timestamp,
            partition=partition,
        )
        if wait:
            await delivered

    async def _on_radar(self, message: Any, msg: dict[str, Any]) -> None:
        self.radar.check_time(msg, datetime.now(UTC), self.settings.clock_skew_s)
        self.metrics.radar_frame(float(msg["step_s"]))
        if self.radar.needs_history(msg) and message.offset > 0:
            await asyncio.to_thread(self._recall_radar, message, msg)
        # the nowcast takes a second or more: off the event loop, so the other
        # agents (and the consumer's heartbeats) go on meanwhile
        areas = await asyncio.to_thread(self.radar.areas, msg, self.settings)
        for area_msg in areas:
            code = area_msg["area_code"]
            # the radar frame's own timestamp, for the latency to a warning
            await self._publish("rain.area", code, area_msg, message.timestamp)

    async def _on_area_rain(self, message: Any, msg: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        # rain.area is also an input topic (point gauges such as HKO's): a
        # record stamped in the future is bad input here too.
        self.radar.check_time(
            {"valid_time": msg["time"]}, datetime.now(UTC), self.settings.clock_skew_s
        )
        code = msg["area_code"]
        windows, states = self.tables["rain_windows"], self.tables["rain_state"]
        window, state, events = self.rain.score(
            msg, windows.get(code), states.get(code)
        )
        # the events first: the state must not get ahead of them
        # (pipeline.staging)
        for ev in events:
            await self._warn(ev, started)
        if window is not None:
            windows[code] = window
        states[code] = state
        if msg.get("accumulations_mm"):
            totals = {float(k): float(v) for k, v in msg["accumulations_mm"].items()}
            at = parse_time(msg["time"]).timestamp()
            self.live.rain_observed(code, totals, at, _decided(events))
            self._verification_metrics(at)

    async def _on_gauge(self, message: Any, msg: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        self.radar.check_time(
            {"valid_time": msg["time"]}, datetime.now(UTC), self.settings.clock_skew_s
        )
        sid = msg["station"]["id"]
        self.metrics.flood_areas[sid] = list(msg["station"].get("area_codes") or [])
        table = self.tables["gauge_state"]
        state, events = self.flood.score(msg, table.get(sid))
        for ev in events:  # before the state that says they were issued
            await self._warn(ev, started)
        table[sid] = state
        station = msg["station"]
        scheme = "colour" if set(station["levels"]) <= set(COLOURS) else "cn_hydro"
        steps = warning_steps(ladder(station["levels"], scheme), scheme)
        at = parse_time(msg["time"]).timestamp()
        self.live.stage_observed(sid, float(msg["stage"]), at, steps, _decided(events))
        self._verification_metrics(at, force=True)

    def _verification_metrics(self, at: float, force: bool = False) -> None:
        """Publish the running scores once per observation time (one radar frame)."""
        if at <= self._scored_at and not force:
            return
        self._scored_at = max(self._scored_at, at)
        scores = self.live.scores()
        for hazard in ("rainstorm",):
            s = scores[hazard]
            lead = s["mean_lead_min"]
            self.metrics.verification(
                hazard,
                accuracy_ratio=s["accuracy"],
                pod_ratio=s["pod"],
                lead_time_s=None if lead is None else 60.0 * lead,
            )
        flood = scores["flood"]
        if flood["issuance_rate"] is not None:
            self.metrics.flood_issuance(flood["issuance_rate"])
            lead = flood["mean_lead_min"]
            self.metrics.verification(
                "flood", lead_time_s=None if lead is None else 60.0 * lead
            )

    def _recall_radar(self, message: Any, msg: dict[str, Any]) -> None:
        """Rebuild the pixel window from the frames before ``message``."""
        keep = max(self.radar.windows_h) * 3600.0 / max(1, int(msg["step_s"]))
        first = max(0, message.offset - int(keep) - 1)
        tp = TopicPartition(message.topic, message.partition)
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            enable_auto_commit=False,
            client_id="ews-recall",
            **client_kwargs(self.settings),
        )
        recalled = 0
        try:
            consumer.assign([tp])
            consumer.seek(tp, first)
            while consumer.position(tp) < message.offset:
                for rec in consumer.poll(timeout_ms=1000).get(tp, []):
                    if rec.offset >= message.offset:
                        break
                    try:
                        frame = registry.decode(rec.value, "radar_frame/1")
                        if frame.get("radar_id") == msg.get("radar_id"):
                            self.radar.remember(frame)
                            recalled += 1
                    except InputError:
                        continue  # it went to dead letters when first read
        finally:
            consumer.close()
        logger.info(
            "recalled %d earlier radar frames (offsets %d-%d)",
            recalled,
            first,
            message.offset - 1,
        )

    async def _warn(self, ev: dict[str, Any], started: float) -> None:
        """Publish a warning event and wait until the broker has taken it."""
        await self._publish("warnings", ev["warning_id"], ev, wait=True)
        hazard = ev["hazard"]
        self.metrics.warnings.labels(hazard, ev["level"] or "none", ev["action"]).inc()
        self.metrics.obs_to_warning_s.labels(hazard).observe(
            max(0.0, time.time() - started)
        )

    async def _on_warning(self, message: Any, ev: dict[str, Any]) -> None:
        started = message.timestamp or time.time()
        table = self.tables["cap_history"]
        wid = ev["warning_id"]
        history, envelope = self.cap.publish(ev, table.get(wid))
        if envelope is None:
            return
        # the alert on Kafka before the history that says it was published
        await self._publish("alerts.cap", wid, envelope, wait=True)
        table[wid] = history
        self.metrics.cap_alerts.labels(
            ev["hazard"], envelope["msgType"], "published"
        ).inc()
        self.metrics.warning_to_cap_s.labels(ev["hazard"]).observe(
            max(0.0, time.time() - started)
        )
