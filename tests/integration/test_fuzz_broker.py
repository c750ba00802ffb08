"""Thousands of hostile records through the real broker into a running worker.

The records come from the generators of the fuzz suite (``tests/fuzz``),
seeded, for every input topic the agents read: gauge stages, area rain,
radar frames, warning events, fire weather and geological records, valid
ones among them. Each is first given to the in-process agent path of the
fuzz suite (:class:`tests.fuzz.harness.AgentPath`), which says whether the
agent will take it or file it as a dead letter. Then the worker must:

- consume every record, the warning events after the rest (its group's
  committed offsets reach the end of every source partition);
- publish exactly one dead letter per refused record, per topic, and none
  of class ``bug`` (a failure ews did not expect);
- still be running, and still take a good record sent afterwards.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

from connectors.gauge_csv import read_gauge_csv
from connectors.scenario import load_scenario
from connectors.station import to_message
from pipeline.demo import DEFAULT_SCENARIO, OUTPUTS, run_settings
from pipeline.lag import group_lag, wait_caught_up
from pipeline.settings import Settings
from pipeline.summary import read_topic
from pipeline.worker import WorkerProcess, prepare
from tests.fuzz import test_fuzz_gauge_agent as gauge
from tests.fuzz import test_fuzz_hazard_agents as hazards
from tests.fuzz import test_fuzz_radar_agent as radar
from tests.fuzz import test_fuzz_rain_agent as rain
from tests.fuzz import test_fuzz_warning_agent as warnings
from tests.fuzz.harness import AgentPath
from tests.fuzz.hostile import Hostile

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)

SEED = 20261203
COUNTS = {
    "obs.gauge": 1000,
    "rain.area": 800,
    "warnings": 600,
    "obs.fire": 300,
    "obs.geo": 300,
    "obs.radar": 60,
}
SOURCES = list(COUNTS)
# what Kafka takes at its default message.max.bytes, with room for the key
MAX_RECORD_BYTES = 900_000


def key_of(raw: bytes) -> bytes:
    """The key a producer would give: the record's station, area or warning."""
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        return b"unreadable"
    if not isinstance(msg, dict):
        return b"unreadable"
    for field in ("warning_id", "area_code", "radar_id", "event_id"):
        if isinstance(msg.get(field), str):
            return msg[field].encode("utf-8", "replace")
    for field in ("station", "gauge", "site"):
        place = msg.get(field)
        if isinstance(place, dict) and isinstance(place.get("id"), str):
            return place["id"].encode("utf-8", "replace")
    return b"unkeyed"


def gauge_messages() -> list[dict]:
    """Real Miho River Bridge readings as gauge_obs/1 messages."""
    scenario = load_scenario(DEFAULT_SCENARIO)
    feed = next(f for f in scenario.feeds if f.kind == "gauge_csv")
    read = read_gauge_csv(
        feed.path, feed.stations or {}, columns=feed.options["columns"], unit="m"
    )
    return [to_message(obs) for obs in read.observations[::20]]


def hostile_records(gauge_bases: list[dict]) -> list[tuple[str, bytes]]:
    """The records of the run, in the order they are sent."""
    h = Hostile(random.Random(SEED))
    field = np.zeros((radar.GRID.ny, radar.GRID.nx))
    makers = {
        "obs.gauge": lambda: gauge.gauge_record(h, h.pick(gauge_bases)),
        "rain.area": lambda: rain.rain_record(h),
        "warnings": lambda: warnings.event_record(h),
        "obs.fire": lambda: hazards.fire_record(h),
        "obs.geo": lambda: hazards.geo_record(h),
        "obs.radar": lambda: radar.radar_record(h, field),
    }
    records = []
    for topic, count in COUNTS.items():
        made = 0
        while made < count:
            raw = makers[topic]()
            if len(raw) < MAX_RECORD_BYTES:
                records.append((topic, raw))
                made += 1
    h.rng.shuffle(records)
    return records


def test_hostile_records_are_processed_or_dead_lettered(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    scenario = load_scenario(DEFAULT_SCENARIO)
    run_id = f"f{uuid.uuid4().hex[:8]}"
    base = Settings(bootstrap=kafka_bootstrap, archive_dir="")
    settings = replace(run_settings(base, scenario, run_id, tmp_path), archive_dir="")
    prepare(settings)

    bases = gauge_messages()
    records = hostile_records(bases)
    # The warning events go second: the agents also write warnings of their
    # own (from the valid gauge and rain records), and the CAP agent's
    # verdict on an event depends on what it took before under the same
    # warning id. Sent after those, the hostile events meet a known state.
    first = [(t, raw) for t, raw in records if t != "warnings"]
    second = [(t, raw) for t, raw in records if t == "warnings"]
    oracle = AgentPath(settings)
    expected: Counter[str] = Counter()
    for topic, raw in first:
        _, letter = oracle.feed(topic, raw)
        if letter is not None:
            expected[topic] += 1

    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        worker.wait_ready()
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        # and the hand-over topics the hazard agents read back
        sources = [settings.topic(t) for t in (*SOURCES, "fire.counties", "geo.towns")]
        outputs = [settings.topic(t) for t in OUTPUTS]
        for topic, raw in first:
            producer.send(settings.topic(topic), key=key_of(raw), value=raw)
        producer.flush()
        wait_caught_up(kafka_bootstrap, settings.app_id, sources, outputs)
        # the agents' own events, in the order the CAP agent took them; some
        # are refused too (a warning for an area the region does not have)
        for rec in read_topic(kafka_bootstrap, settings.topic("warnings")):
            _, letter = oracle.feed("warnings", rec.value)
            if letter is not None:
                expected["warnings"] += 1
        for topic, raw in second:
            _, letter = oracle.feed(topic, raw)
            if letter is not None:
                expected[topic] += 1
        assert all(expected[t] > 0 for t in SOURCES), expected
        for topic, raw in second:
            producer.send(settings.topic(topic), key=key_of(raw), value=raw)
        producer.flush()
        wait_caught_up(kafka_bootstrap, settings.app_id, sources, outputs)
        assert worker.proc is not None and worker.proc.poll() is None

        lags = group_lag(kafka_bootstrap, settings.app_id, sources)
        for p in lags:
            assert p.lag == 0, f"{p.topic}[{p.partition}] lag {p.lag}"
        # Every record sent is on its topic, so consumed. The agents also
        # write rain.area and warnings (from the valid records): those topics
        # hold more than was sent.
        sent: dict[str, Counter[bytes]] = {t: Counter() for t in SOURCES}
        for topic, raw in records:
            sent[topic][raw] += 1
        for topic in SOURCES:
            on_topic = read_topic(kafka_bootstrap, settings.topic(topic))
            held = Counter(r.value for r in on_topic)
            assert sum(sent[topic].values()) == COUNTS[topic]
            assert not sent[topic] - held, f"{topic}: records sent are missing"

        letters = [
            json.loads(r.value)
            for r in read_topic(kafka_bootstrap, settings.topic("deadletter"))
        ]
        # At-least-once: a record read again after a rebalance is refused
        # again, with a dead letter naming the same topic, partition and
        # offset. One per position counts; a repeat must say the same.
        first: dict[tuple, dict] = {}
        for d in letters:
            if d["source"].removesuffix(" agent") not in COUNTS:
                continue
            pos = (d["topic"], d["partition"], d["offset"])
            assert None not in pos, d
            assert first.setdefault(pos, d)["reason_class"] == d["reason_class"], pos
        by_topic = Counter(d["source"].removesuffix(" agent") for d in first.values())
        logger.info("repeated dead letters: %d", len(letters) - len(first))
        bugs = [d for d in letters if d["reason_class"] == "bug"]
        assert not bugs, [d["reason"] for d in bugs[:5]]
        assert by_topic == expected

        # still consuming: one good gauge record after the storm of bad ones
        good = json.dumps(bases[0]).encode()
        producer.send(settings.topic("obs.gauge"), key=b"3011665", value=good)
        producer.flush()
        producer.close()
        wait_caught_up(kafka_bootstrap, settings.app_id, sources, outputs)
        lags = group_lag(
            kafka_bootstrap, settings.app_id, [settings.topic("obs.gauge")]
        )
        assert sum(p.end for p in lags) == COUNTS["obs.gauge"] + 1
        assert all(p.lag == 0 for p in lags)
        assert worker.proc.poll() is None
    finally:
        worker.stop()
