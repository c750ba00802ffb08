"""The docker deployment's files: compose.yml, Prometheus, Grafana, Dockerfile.

No Docker engine runs here, so these tests read the files: the Kafka cluster
must survive the loss of one node (3 voters, 3 replicas, 2 in sync), every
file compose mounts must exist, and Prometheus must accept its configuration
and the dashboard's queries (``promtool``, from Debian's prometheus package).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
KAFKA_ROLES = "broker,controller"

# Files an operator creates before the first start (they hold credentials).
OPERATOR_FILES = {"kannel/secrets.conf": "kannel/secrets.conf.example"}
OPERATOR_MADE = {"mosquitto/passwd"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def kafka_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service["environment"]
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("apache/kafka")
        and "KAFKA_NODE_ID" in service.get("environment", {})
    }


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, check=False
    )


def test_three_kafka_nodes_form_one_quorum(compose: dict[str, Any]) -> None:
    nodes = kafka_nodes(compose)
    assert len(nodes) == 3

    ids = {name: int(env["KAFKA_NODE_ID"]) for name, env in nodes.items()}
    assert sorted(ids.values()) == [1, 2, 3]
    voters = {f"{ids[name]}@{name}:9093" for name in nodes}
    for name, env in nodes.items():
        assert env["KAFKA_PROCESS_ROLES"] == KAFKA_ROLES
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
    assert len({env["CLUSTER_ID"] for env in nodes.values()}) == 1


def test_records_survive_the_loss_of_one_node(compose: dict[str, Any]) -> None:
    for env in kafka_nodes(compose).values():
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == 2
        assert str(env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]) == "false"
        assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"


def test_each_node_keeps_its_own_volume(compose: dict[str, Any]) -> None:
    volumes = [compose["services"][name]["volumes"][0] for name in kafka_nodes(compose)]
    assert len(set(volumes)) == 3
    for volume in volumes:
        assert volume.split(":")[0] in compose["volumes"]


def test_workers_reach_every_broker(compose: dict[str, Any]) -> None:
    worker = compose["services"]["ews-worker"]
    assert worker["build"]["dockerfile"] == "docker/Dockerfile"
    assert worker["command"] == ["worker"]
    # More workers than the 4 partitions of a topic would sit idle.
    assert 2 <= worker["deploy"]["replicas"] <= 4
    bootstrap = set(worker["environment"]["EWS_BOOTSTRAP"].split(","))
    assert bootstrap == {f"{name}:9092" for name in kafka_nodes(compose)}


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    mounts += [secret["file"] for secret in compose.get("secrets", {}).values()]
    assert mounts
    for mount in mounts:
        relative = mount.removeprefix("./")
        if relative in OPERATOR_FILES:
            assert (DOCKER / OPERATOR_FILES[relative]).is_file(), relative
        elif relative not in OPERATOR_MADE:
            assert (DOCKER / relative).exists(), relative


def test_prometheus_scrapes_the_worker_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "ews-worker")
    port = int(compose["services"]["ews-worker"]["environment"]["EWS_METRICS_PORT"])
    assert job["dns_sd_configs"] == [
        {"names": ["ews-worker"], "type": "A", "port": port, "refresh_interval": "30s"}
    ]


def test_promtool_accepts_the_prometheus_config() -> None:
    result = promtool("check", "config", str(DOCKER / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    text = (DOCKER / "prometheus" / "prometheus.yml").read_text()
    broken.write_text(text.replace("scrape_interval: 15s", "scrape_interval: soon"))
    assert promtool("check", "config", str(broken)).returncode != 0


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    dashboard = json.loads(
        (DOCKER / "grafana" / "dashboards" / "ews-overview.json").read_text()
    )
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) == len(dashboard["panels"])
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"ews:dashboard_query_{i}", "expr": expr}
                    for i, expr in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_uses_the_compose_prometheus(compose: dict[str, Any]) -> None:
    provisioning = DOCKER / "grafana" / "provisioning"
    sources = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]

    dashboards = json.loads(
        (DOCKER / "grafana" / "dashboards" / "ews-overview.json").read_text()
    )
    uids = {panel["datasource"]["uid"] for panel in dashboards["panels"]}
    assert uids == {source["uid"]}
    providers = yaml.safe_load((provisioning / "dashboards" / "ews.yml").read_text())
    mount = next(
        v for v in compose["services"]["grafana"]["volumes"] if "dashboards:" in v
    )
    assert providers["providers"][0]["options"]["path"] == mount.split(":")[1]


def test_worker_image_runs_ews() -> None:
    lines = (DOCKER / "Dockerfile").read_text().splitlines()
    assert "FROM python:3.11-slim" in lines
    assert 'ENTRYPOINT ["ews"]' in lines
    assert 'CMD ["worker"]' in lines
    assert any(line.startswith("USER ") and line != "USER root" for line in lines)
