"""``docker compose config`` accepts docker-compose.yml, and the stack has the parts it should."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opskit import REPO


@pytest.fixture
def compose(
    compose_command: list[str], compose_env: dict[str, str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose_command, *args],
            cwd=cwd,
            env=compose_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


Compose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def stack(compose: Compose) -> dict[str, Any]:
    result = compose("-f", "docker-compose.yml", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_docker_compose_config_accepts_the_file(compose: Compose) -> None:
    result = compose("-f", "docker-compose.yml", "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_refuses_a_broken_file(compose: Compose, tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  x:\n    image: busybox\n    ports: 9\n")
    result = compose("-f", "compose.yml", "config", "--quiet", cwd=tmp_path)
    assert result.returncode != 0


def test_the_stack_has_its_services(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert set(services) == {
        "kafka",
        "schema-registry",
        "rules",
        "lead-router",
        "deliver-metro-manhattan",
        "prometheus",
        "grafana",
    }
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["lead-router"]["deploy"]["replicas"] == 2
    assert services["lead-router"]["command"] == ["run"]


def test_prometheus_loads_the_alert_rules_and_grafana_the_dashboard(stack: dict[str, Any]) -> None:
    def mounts(service: str) -> dict[str, str]:
        return {
            Path(volume["source"]).relative_to(REPO).as_posix(): volume["target"]
            for volume in stack["services"][service]["volumes"]
            if volume["type"] == "bind"
        }

    prometheus = mounts("prometheus")
    assert prometheus["deploy/prometheus/alerts.yml"].startswith("/etc/prometheus/rules/")
    assert prometheus["deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    grafana = mounts("grafana")
    assert grafana["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana["deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"


def test_the_console_runs_only_with_its_profile_and_listens_for_the_host(compose: Compose) -> None:
    result = compose(
        "-f", "docker-compose.yml", "--profile", "console", "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    console = json.loads(result.stdout)["services"]["console"]
    assert console["command"] == ["console"]
    assert console["environment"]["LEAD_ROUTER_CONSOLE_HOST"] == "0.0.0.0"
    assert [(p["host_ip"], p["target"]) for p in console["ports"]] == [("127.0.0.1", 8080)]
    assert "8080/login" in " ".join(console["healthcheck"]["test"])
