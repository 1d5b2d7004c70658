"""``lead-router kafka start|status|stop`` from a shell, as a person would use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration


def lead_router(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_start_status_second_start_and_stop(tmp_path: Path) -> None:
    folder = str(tmp_path / "broker")
    started = lead_router("kafka", "start", "--dir", folder)
    try:
        assert started.returncode == 0, started.stderr
        bootstrap = started.stdout.strip()
        assert bootstrap.startswith("127.0.0.1:")
        assert AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers

        status = lead_router("kafka", "status", "--dir", folder, "--format", "json")
        assert status.returncode == 0
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert report["bootstrap_servers"] == bootstrap

        again = lead_router("kafka", "start", "--dir", folder)
        assert again.returncode == 0
        assert "already running" in again.stderr
        assert again.stdout.strip() == bootstrap
        still = lead_router("kafka", "status", "--dir", folder, "--format", "json")
        assert json.loads(still.stdout)["pid"] == report["pid"]
    finally:
        stopped = lead_router("kafka", "stop", "--dir", folder)
    assert stopped.returncode == 0
    after = lead_router("kafka", "status", "--dir", folder)
    assert after.returncode == 1
    assert "not running" in after.stdout
