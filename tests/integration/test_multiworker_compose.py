"""The deployment's worker count against the topics' partition counts.

No server is needed: ``docker/compose.yml`` is read as data. A keyed topic's
partition is owned by one worker of the group at a time, so workers beyond
the smallest partition count of the multi-partition topics would sit idle,
and fewer than two leave nobody to take over when one dies.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.topics import ALL

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yml"


def test_worker_replicas_fit_the_partition_counts():
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    replicas = services["ews-worker"]["deploy"]["replicas"]
    shared = [spec.partitions for spec in ALL if spec.partitions > 1]
    assert 2 <= replicas <= min(shared)
    single = sorted(spec.name for spec in ALL if spec.partitions == 1)
    # one worker at a time reads these; the others stand by for them
    assert single == ["deadletter", "obs.radar"]


def test_every_worker_talks_to_every_broker_and_shares_one_group():
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    brokers = sorted(
        name
        for name, s in services.items()
        if "KAFKA_NODE_ID" in s.get("environment", {})
    )
    env = services["ews-worker"]["environment"]
    assert sorted(h.split(":")[0] for h in env["EWS_BOOTSTRAP"].split(",")) == brokers
    assert (
        env["EWS_APP_ID"] == services["ews-lag-exporter"]["environment"]["EWS_APP_ID"]
    )
