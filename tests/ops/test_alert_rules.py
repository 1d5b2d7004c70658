"""promtool accepts the alert rules and the Prometheus configuration, and their unit tests pass."""

from __future__ import annotations

from pathlib import Path

import yaml
from opskit import DEPLOY, PROMETHEUS, REPO, promtool_run


def test_promtool_checks_the_alert_rules(promtool: Path) -> None:
    result = promtool_run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_refuses_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    broken = {"groups": [{"name": "x", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m])"}]}]}
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    result = promtool_run(promtool, "check", "rules", "broken.yml", cwd=tmp_path)
    assert result.returncode != 0


def test_the_alert_rules_unit_tests_pass(promtool: Path) -> None:
    result = promtool_run(promtool, "test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    alerts = {rule["alert"] for group in _groups() for rule in group["rules"] if "alert" in rule}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert alerts - tested == set()


def test_promtool_checks_the_prometheus_configuration(promtool: Path) -> None:
    result = promtool_run(promtool, "check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    headings = {
        line.lstrip("#").strip().lower() for line in runbook.splitlines() if line.startswith("## ")
    }
    for group in _groups():
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = rule["alert"]
            assert name.lower() in headings, f"docs/runbook.md has no section for {name}"
            assert rule["annotations"]["runbook"] == f"docs/runbook.md#{name.lower()}"


def test_the_prometheusrule_holds_the_same_groups() -> None:
    rule = yaml.safe_load((DEPLOY / "kubernetes" / "prometheusrule.yaml").read_text())
    assert rule["spec"]["groups"] == _groups()


def _groups() -> list[dict[str, object]]:
    groups: list[dict[str, object]] = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())[
        "groups"
    ]
    return groups
