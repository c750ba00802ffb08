"""``ews status`` against the real broker and a real metrics exporter.

The test writes a known state onto a run's topics (warning events, dead
letters, the dispatcher's coverage changelog, committed offsets of the
run's group), serves a worker metric registry over HTTP with prometheus
client's own server, and reads the command's output: plain text when piped,
colour on a terminal. Expected figures are the ones written here.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import start_http_server
from rich.console import Console

from pipeline.admin import ensure_topics
from pipeline.deadletter import dead_letter
from pipeline.metrics import make_metrics
from pipeline.settings import Settings
from pipeline.status import gather, render
from pipeline.topics import TopicSpec
from pipeline.worker import prepare
from schemas import registry
from schemas.errors import ParseError, SchemaError
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)


def event(warning: str, seq: int, action: str, level: str | None, town: str) -> dict:
    t = T0 + timedelta(minutes=10 * seq)
    return {
        "schema": "warning_event/1",
        "event_id": f"{warning}:{seq}",
        "warning_id": warning,
        "hazard": warning.split(":")[0],
        "ruleset": "cma-rainstorm",
        "area": {"codes": [town], "names": [f"town {town}"]},
        "level": level,
        "previous_level": None,
        "action": action,
        "sequence": seq,
        "observed_at": t.isoformat(),
        "valid_from": t.isoformat(),
        "valid_to": (t + timedelta(hours=3)).isoformat(),
        "status": "Exercise",
        "trigger": {},
    }


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory) -> tuple[Settings, str, Path]:
    home = tmp_path_factory.mktemp("status")
    run_id = f"s{uuid.uuid4().hex[:8]}"
    settings = Settings(
        bootstrap=kafka_bootstrap, app_id=f"ews-{run_id}", topic_prefix=f"{run_id}."
    )
    prepare(settings)
    changelog = f"{settings.app_id}-dispatch_coverage-changelog"
    ensure_topics(
        kafka_bootstrap,
        [TopicSpec(changelog, 4, None, "compact", "identifier", None, "coverage")],
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    events = [
        event("rainstorm:441202001:a", 1, "issue", "orange", "441202001"),
        event("rainstorm:441202001:a", 2, "upgrade", "red", "441202001"),
        event("rainstorm:441204001:b", 1, "issue", "yellow", "441204001"),
        event("rainstorm:441204001:b", 2, "cancel", None, "441204001"),
        event("flood:3011665:c", 1, "issue", "blue", "441203001"),
    ]
    for ev in events:
        producer.send(
            settings.topic("warnings"), key=ev["warning_id"].encode(),
            value=registry.encode(ev),
        )  # fmt: skip
    now = datetime.now(UTC)
    for source, exc in [
        ("replay:gauge", ParseError("truncated JSON")),
        ("replay:gauge", ParseError("truncated JSON")),
        ("obs.radar agent", SchemaError("no grid")),
    ]:
        letter = dead_letter(source=source, exc=exc, original=b"x", now=now)
        producer.send(settings.topic("deadletter"), value=registry.encode(letter))
    snapshots = {
        "ALERT-OPEN": {"state": "open", "coverage": 0.42, "target": 0.95,
                       "hazard": "rainstorm", "level": "red", "msgType": "Update",
                       "identifier": "ALERT-OPEN", "wave": 2, "population": 1000,
                       "reached": {"any": 420.0}},
        "ALERT-DONE": {"state": "closed", "outcome": "reached", "coverage": 0.97},
    }  # fmt: skip
    for key, snap in snapshots.items():
        producer.send(
            changelog, key=json.dumps(key).encode(), value=json.dumps(snap).encode()
        )
    for _ in range(5):
        producer.send(settings.topic("obs.gauge"), key=b"st", value=b"{}", partition=1)
    producer.flush()
    producer.close()
    # the group has taken 3 of the 5 gauge records of partition 1
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    consumer.commit(
        {TopicPartition(settings.topic("obs.gauge"), 1): OffsetAndMetadata(3, "", -1)}
    )
    consumer.close()

    metrics = make_metrics(process=False)
    metrics.delivery.gateway_up("sms", "kannel", False)
    metrics.delivery.gateway_up("loudspeaker", "mqtt", True)
    metrics.delivery.alerts.track(
        "ALERT-OPEN", hazard="rainstorm", level="red", coverage_ratio=0.42, deadline=0
    )
    (port,) = free_ports(1)
    server, thread = start_http_server(
        port, addr="127.0.0.1", registry=metrics.registry
    )
    path = home / "settings.json"
    path.write_text(settings.to_json())
    yield settings, f"http://127.0.0.1:{port}/metrics", path
    server.shutdown()


def test_status_reads_the_live_state(run):
    settings, url, _ = run
    status = gather(settings, [url])
    assert [(e["warning_id"], e["level"]) for e in status.warnings] == [
        ("rainstorm:441202001:a", "red"),
        ("flood:3011665:c", "blue"),
    ]
    assert [a["identifier"] for a in status.alerts] == ["ALERT-OPEN"]
    assert dict(status.closed) == {"reached": 1}
    gauge = [p for p in status.lag if p.topic == "obs.gauge"]
    assert {p.partition: p.lag for p in gauge} == {0: 0, 1: 2, 2: 0, 3: 0}
    assert dict(status.deadletters) == {
        ("replay:gauge", "parse"): 2,
        ("obs.radar agent", "schema"): 1,
    }
    names = {(s[0], tuple(sorted(s[1].items()))): s[2] for s in status.samples}
    assert names[("ews_gateway_up", (("channel", "sms"), ("gateway", "kannel")))] == 0
    assert names[("ews_alerts_late", (("hazard", "rainstorm"), ("level", "red")))] == 1


def test_the_command_prints_plain_text_when_piped(run):
    _, url, path = run
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status", "--settings", str(path)]
        + ["--metrics", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out
    assert "Warnings in force: 2" in out
    assert "Dead letters: 3" in out
    assert "closed: reached 1" in out
    assert "42.0 %" in out and "420 of 1,000" in out
    assert "gateway sms/kannel: down" in out
    assert "gateway loudspeaker/mqtt: up" in out
    assert "rainstorm red: 1 going out, lowest coverage 42.0 %, 1 late" in out
    gauge = next(line for line in out.splitlines() if "obs.gauge" in line)
    cells = gauge.replace("│", " ").split()
    assert cells == ["flood", "obs.gauge", "4", "3", "5", "2"]  # 3 of 5 committed


def test_the_command_colours_a_terminal(run):
    settings, url, _ = run
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=True, color_system="standard", width=160
    )
    render(gather(settings, [url]), console)
    text = buffer.getvalue()
    assert "\x1b[31m" in text  # red: the red warning, the open alert's coverage


def test_a_silent_broker_is_an_error(tmp_path):
    (port,) = free_ports(1)
    path = tmp_path / "settings.json"
    path.write_text(Settings(bootstrap=f"127.0.0.1:{port}").to_json())
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status", "--settings", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"no Kafka broker answers at 127.0.0.1:{port}" in result.stderr
