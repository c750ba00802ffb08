"""The lag exporter against the real broker, with a hand-moved clock.

Records and committed offsets are written here, so every expected figure is
the count of what this test wrote.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipeline.deadletter import dead_letter
from pipeline.lag_exporter import LagExporter
from pipeline.settings import Settings
from pipeline.summary import read_topic
from pipeline.worker import prepare
from schemas import registry
from schemas.errors import ParseError, SchemaError
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def commit(settings: Settings, topic: str, partition: int, offset: int) -> None:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    tp = TopicPartition(settings.topic(topic), partition)
    consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    consumer.close()


def poll(exporter: LagExporter) -> None:
    """Poll until the broker answers (its group coordinator may be starting)."""
    for _ in range(120):  # a hang guard, no measure of speed
        if exporter.poll():
            return
        time.sleep(0.5)
    raise AssertionError("the broker never answered the lag exporter")


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    run_id = f"l{uuid.uuid4().hex[:8]}"
    s = Settings(
        bootstrap=kafka_bootstrap, app_id=f"ews-{run_id}", topic_prefix=f"{run_id}."
    )
    prepare(s)
    return s


def test_lag_offsets_age_and_feeds(settings: Settings):
    clock = Clock()
    exporter = LagExporter(settings, clock=clock)
    reg = exporter.metrics.registry
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    for _ in range(6):
        producer.send(settings.topic("warnings"), key=b"w", value=b"{}", partition=2)
    producer.send(
        settings.topic("obs.radar"),
        key=b"r",
        value=b"{}",
        timestamp_ms=1_700_000_000_000,
    )
    producer.flush()

    poll(exporter)
    labels = {"group": settings.app_id, "topic": "warnings", "partition": "2"}
    assert reg.get_sample_value("ews_group_lag_records", labels) == 6
    assert reg.get_sample_value("ews_group_committed_offset", labels) is None
    assert (
        reg.get_sample_value(
            "ews_topic_end_offset", {"topic": "warnings", "partition": "2"}
        )
        == 6
    )
    stamp = {"topic": "obs.radar"}
    assert (
        reg.get_sample_value("ews_topic_last_record_timestamp_seconds", stamp) == 1.7e9
    )
    assert reg.get_sample_value("ews_broker_up") == 1

    # the group takes 4: lag 2, the offset advanced just now
    commit(settings, "warnings", 2, 4)
    clock.now += 10.0
    poll(exporter)
    assert reg.get_sample_value("ews_group_lag_records", labels) == 2
    assert reg.get_sample_value("ews_group_committed_offset", labels) == 4
    assert reg.get_sample_value("ews_group_offset_unchanged_seconds", labels) == 0
    # 30 s on, nothing moved: that is what the stalled-consumer alert reads
    clock.now += 30.0
    poll(exporter)
    assert reg.get_sample_value("ews_group_offset_unchanged_seconds", labels) == 30

    # a newer radar frame moves the feed's timestamp
    producer.send(
        settings.topic("obs.radar"),
        key=b"r",
        value=b"{}",
        timestamp_ms=1_700_000_600_000,
    )
    producer.flush()
    producer.close()
    poll(exporter)
    assert (
        reg.get_sample_value("ews_topic_last_record_timestamp_seconds", stamp)
        == 1_700_000_600
    )
    exporter.close()


def test_dead_letters_are_counted_once(settings: Settings):
    exporter = LagExporter(settings)
    reg = exporter.metrics.registry
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    now = datetime.now(UTC)

    def send(source: str, exc: Exception) -> None:
        letter = dead_letter(source=source, exc=exc, original=b"x", now=now)
        producer.send(settings.topic("deadletter"), value=registry.encode(letter))

    send("replay:gauge", ParseError("truncated JSON"))
    send("replay:gauge", ParseError("truncated JSON"))
    send("obs.radar agent", SchemaError("no grid"))
    producer.send(settings.topic("deadletter"), value=b"not json")
    producer.flush()
    poll(exporter)
    name = "ews_deadletter_topic_records_total"

    def count(source: str, reason: str) -> float | None:
        return reg.get_sample_value(name, {"source": source, "reason_class": reason})

    assert count("replay:gauge", "parse") == 2
    assert count("obs.radar agent", "schema") == 1
    assert count("unknown", "unreadable") == 1

    # polls after a reconnection go on from where they were
    poll(exporter)
    exporter.close()
    send("replay:gauge", ParseError("truncated JSON"))
    producer.flush()
    producer.close()
    poll(exporter)
    assert count("replay:gauge", "parse") == 3
    assert count("obs.radar agent", "schema") == 1
    assert len(read_topic(settings.bootstrap, settings.topic("deadletter"))) == 5
    exporter.close()


def test_a_silent_broker_reads_as_down():
    (port,) = free_ports(1)
    exporter = LagExporter(Settings(bootstrap=f"127.0.0.1:{port}"))
    assert exporter.poll() is False
    assert exporter.metrics.registry.get_sample_value("ews_broker_up") == 0
