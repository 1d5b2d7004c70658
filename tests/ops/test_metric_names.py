"""Every metric the dashboard and the alert rules name exists on a running processor's /metrics.

The processor runs as a separate process (``lead-router run``) on the real broker, with its own
topics (``stream_settings``); once the rules are in force it is scraped, and the names in the
dashboard's queries and in the alert rules' expressions are looked up in what it exposes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opskit import DEPLOY, REPO
from prometheus_client.parser import text_string_to_metric_families
from streamkit import settings_env, start_process

from processor.localkafka import free_port
from processor.settings import Settings

pytestmark = pytest.mark.integration

NAME = re.compile(r"\blead_router_[a-z0-9_]+")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


def dashboard_names() -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    names.update(NAME.findall(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads((DEPLOY / "grafana" / "dashboards" / "lead-router.json").read_text()))
    return names


def alert_names() -> set[str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return {name for g in groups for rule in g["rules"] for name in NAME.findall(rule["expr"])}


def exposed_names(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


@pytest.fixture
def metrics_url(stream_settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The /metrics address of a running processor whose rules are in force."""
    settings = stream_settings.with_changes(metrics_port=free_port())
    base = f"http://127.0.0.1:{settings.metrics.metrics_port}"
    log = tmp_path / "processor.log"
    process = start_process(settings, log)
    try:
        rules = REPO / "processor" / "demo" / "rules.yaml"
        applied = subprocess.run(
            [sys.executable, "-m", "processor", "rules", "apply", str(rules)],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        deadline = time.monotonic() + 120
        while http_get(f"{base}/readyz")[0] != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "never ready:\n" + log.read_text()
            time.sleep(0.2)
        yield f"{base}/metrics"
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_dashboard_and_alerts_name_metrics() -> None:
    # The extraction finds the names it should; an empty set would make the check below vacuous.
    assert {"lead_router_outcomes_total", "lead_router_consumer_lag"} <= dashboard_names()
    assert {"lead_router_rules_refused_total", "lead_router_transactions_total"} <= alert_names()
    assert exposed_names("# TYPE a counter\na_total 1\n") >= {"a", "a_total"}
    assert "lead_router_nonexistent_total" not in exposed_names("# TYPE a counter\na_total 1\n")


def test_every_metric_named_in_the_dashboard_and_alerts_exists(metrics_url: str) -> None:
    status, text = http_get(metrics_url)
    assert status == 200
    exposed = exposed_names(text)
    assert "lead_router_ready" in exposed
    missing = {
        "dashboard": sorted(dashboard_names() - exposed),
        "alert rules": sorted(alert_names() - exposed),
    }
    assert missing == {"dashboard": [], "alert rules": []}
