"""The alert rules of docker/prometheus: promtool accepts them and their unit tests.

``promtool test rules`` runs the cases of docker/prometheus/tests/*.yml, whose
expected alerts and times are worked out by hand in their comments; a copy
of the rules with a shorter ``for:`` must fail them, so they can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_dashboards import exported_names, metric_names

PROMETHEUS = Path(__file__).resolve().parents[2] / "docker" / "prometheus"
RULES = PROMETHEUS / "ews.rules.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
EXPECTED_ALERTS = {
    "EwsConsumerStalled",
    "EwsConsumerLagHigh",
    "EwsWorkerDown",
    "EwsNoWorkerUp",
    "EwsLagExporterDown",
    "EwsBrokerUnreachable",
    "EwsRadarFramesMissing",
    "EwsDeadLetterSurge",
    "EwsCoverageBelowTargetAtDeadline",
    "EwsDisseminationExpired",
    "EwsGatewayDown",
    "EwsRouteRefusesEverything",
    "EwsGatewayFailing",
    "EwsDeliveryFailing",
    "EwsRainstormAccuracyBelowTarget",
    "EwsLeadTimeBelowTarget",
    "EwsFloodIssuanceBelowTarget",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_every_known_failure_has_its_alert():
    alerts = {r["alert"] for r in rules()}
    assert alerts == EXPECTED_ALERTS
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_shipped_stall_rule_waits_two_minutes():
    stalled = next(r for r in rules() if r["alert"] == "EwsConsumerStalled")
    assert stalled["for"] == "2m"
    assert "ews_group_lag_records" in stalled["expr"]
    assert "ews_group_offset_unchanged_seconds" in stalled["expr"]


def test_every_metric_a_rule_reads_is_exported():
    exported = exported_names()
    for rule in rules():
        assert metric_names(rule["expr"]) - exported == set(), rule["alert"]


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_the_rule_unit_tests_pass(path: Path):
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == EXPECTED_ALERTS


def test_the_unit_tests_catch_a_shorter_wait(tmp_path: Path):
    (tmp_path / "tests").mkdir()
    shutil.copy(PROMETHEUS / "tests" / "pipeline.yml", tmp_path / "tests")
    text = RULES.read_text().replace("for: 2m", "for: 1m")
    (tmp_path / "ews.rules.yml").write_text(text)
    result = promtool("test", "rules", str(tmp_path / "tests" / "pipeline.yml"))
    assert result.returncode != 0
    assert "EwsConsumerStalled" in result.stdout + result.stderr


def test_prometheus_loads_the_rules_file():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["ews.rules.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"ews-worker", "ews-lag-exporter"} <= jobs
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout
