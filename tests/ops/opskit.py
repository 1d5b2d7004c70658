"""Where the operations checks find the repository's deploy files, and how they run promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "lead-router.json"
RUNBOOK = REPO / "docs" / "runbook.md"


def promtool_run(
    promtool: Path, *args: str, cwd: Path = PROMETHEUS
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
