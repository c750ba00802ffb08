"""The local Kafka broker and topic administration, against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaTimeoutError

from pipeline import cli
from pipeline.admin import ensure_topics, list_topics, wait_for_broker
from pipeline.broker import LocalBroker
from pipeline.topics import ALL, TopicSpec
from schemas.errors import BrokerError, ConfigError

pytestmark = pytest.mark.integration


def topic_configs(bootstrap: str, name: str) -> dict[str, str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        admin.close()
    return {key: entry["value"] for key, entry in found["topic"][name].items()}


def test_declared_topics_are_created_once(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap)
    assert ensure_topics(kafka_bootstrap) == []

    present = list_topics(kafka_bootstrap)
    # docs/architecture.md: obs.radar and deadletter 1 partition, the rest 4.
    expected = {
        "obs.radar": 1,
        "obs.gauge": 4,
        "obs.geo": 4,
        "obs.fire": 4,
        "rain.area": 4,
        "warnings": 4,
        "alerts.cap": 4,
        "deadletter": 1,
        "dispatch": 4,
        "receipts": 4,
    }
    assert {name: present[name] for name in expected} == expected
    assert not any(name.startswith("__") for name in present)


def test_topics_get_their_retention_and_cleanup(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap)
    # 7 d = 7 * 24 * 3600 * 1000 ms; 2 d = 172 800 000 ms.
    gauge = topic_configs(kafka_bootstrap, "obs.gauge")
    assert gauge["retention.ms"] == "604800000"
    assert gauge["cleanup.policy"] == "delete"
    assert topic_configs(kafka_bootstrap, "obs.radar")["retention.ms"] == "172800000"


def test_partition_mismatch_is_refused(kafka_bootstrap: str) -> None:
    name = f"test.mismatch.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [TopicSpec(name, 2, None, "delete", "k", None, "")])

    with pytest.raises(ConfigError, match=f"{name} has 2 partitions, declared 3"):
        ensure_topics(
            kafka_bootstrap, [TopicSpec(name, 3, None, "delete", "k", None, "")]
        )


def test_topics_are_not_created_on_first_use(kafka_bootstrap: str) -> None:
    name = f"test.undeclared.{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_block_ms=3000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(name, b"x").get(timeout=5)
    finally:
        producer.close(timeout=1)
    assert name not in list_topics(kafka_bootstrap)


def test_records_survive_a_restart(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    broker = LocalBroker(
        tmp_path / "broker", port=free_port(), controller_port=free_port()
    )
    spec = TopicSpec("test.durable", 1, None, "delete", "k", None, "")
    with broker:
        assert broker.status().running
        ensure_topics(broker.bootstrap, [spec])
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send(spec.name, key=b"k", value=b"kept").get(timeout=30)
        producer.close()
    meta = (tmp_path / "broker" / "data" / "meta.properties").read_text()
    assert not broker.status().running
    assert not broker.pid_path.exists()

    broker.start()
    try:
        assert (tmp_path / "broker" / "data" / "meta.properties").read_text() == meta
        consumer = KafkaConsumer(
            spec.name,
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        values = [record.value for record in consumer]
        consumer.close()
        assert values == [b"kept"]
    finally:
        broker.stop()


def test_a_taken_port_is_refused(
    kafka_broker: LocalBroker, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    clash = LocalBroker(
        tmp_path / "clash", port=kafka_broker.port, controller_port=free_port()
    )
    with pytest.raises(BrokerError, match=f"127.0.0.1:{kafka_broker.port} is in use"):
        clash.start()
    assert not clash.status().running
    assert kafka_broker.status().running


def test_a_broker_that_cannot_start_fails_with_its_log(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    broker = LocalBroker(tmp_path / "bad", port=port, controller_port=free_port())
    broker.start()
    broker.stop()
    # A data directory written by node 7: Kafka refuses it to node 1.
    meta = broker.home / "data" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))

    with pytest.raises(BrokerError) as raised:
        broker.start()
    assert "exited with code" in str(raised.value)
    assert "7" in str(raised.value).split("exited with code")[1]
    assert not broker.status().running


def test_stop_of_a_stopped_broker_is_harmless(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "never", port=1, controller_port=2)
    broker.stop()
    status = broker.status()
    assert not status.running
    assert status.bootstrap == "127.0.0.1:1"


def test_wait_for_an_absent_broker_gives_up(free_port: Callable[[], int]) -> None:
    with pytest.raises(BrokerError, match="no Kafka broker answered"):
        wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=1.0)


def test_cli_manages_a_broker_and_its_topics(
    tmp_path: Path, free_port: Callable[[], int], capsys: pytest.CaptureFixture[str]
) -> None:
    port, controller = str(free_port()), str(free_port())
    where = [
        "--home",
        str(tmp_path / "b"),
        "--port",
        port,
        "--controller-port",
        controller,
    ]
    assert cli.main(["broker", "status", *where]) == 1
    assert cli.main(["broker", "start", *where]) == 0
    try:
        assert cli.main(["broker", "status", *where]) == 0
        bootstrap = f"127.0.0.1:{port}"
        assert cli.main(["topics", "create", "--bootstrap", bootstrap]) == 0
        assert cli.main(["topics", "create", "--bootstrap", bootstrap]) == 0
        assert cli.main(["topics", "list", "--bootstrap", bootstrap]) == 0
    finally:
        assert cli.main(["broker", "stop", *where]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("kafka not running at 127.0.0.1:" + port)
    assert out[1].startswith("kafka running (pid ")
    assert out[3] == "created: " + ", ".join(spec.name for spec in ALL)
    assert out[4] == "all topics exist"
    assert out[5].split()[:3] == ["obs.radar", "1", "partitions"]
    assert out[-1].startswith("kafka not running")
