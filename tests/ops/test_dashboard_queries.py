"""Every query of the Grafana dashboard is PromQL that Prometheus parses.

Grafana sends a panel's query to Prometheus only when the panel is drawn, so a typo in one (a
missing bracket, a misplaced ``by``) shows as an error on that panel alone, long after it was
written. promtool parses each query here as the expression of a recording rule, with Grafana's
variables replaced by values of the kind Grafana puts in their place.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from opskit import DASHBOARD, promtool_run
from promql import dashboard_expressions

GRAFANA_VALUES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "3h",
    "job": "lead-router",
    "instance": ".*",
}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_COMPLAINT = re.compile(r'"query_(\d+)": (.*)')


def as_prometheus_sees_it(expr: str) -> str:
    """``expr`` with each Grafana variable replaced as Grafana would replace it."""
    return _VARIABLE.sub(lambda match: GRAFANA_VALUES[match.group(1) or match.group(2)], expr)


def check_queries(promtool: Path, dashboard: dict[str, Any], folder: Path) -> list[str]:
    """promtool's complaints about the dashboard's queries (none when every one parses), each
    naming the panel or variable it comes from."""
    queries = list(dashboard_expressions(dashboard))
    rules = [
        {"record": f"query_{n}", "expr": as_prometheus_sees_it(expr)}
        for n, (_, expr) in enumerate(queries)
    ]
    path = folder / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool_run(promtool, "check", "rules", path.name, cwd=folder)
    if result.returncode == 0:
        return []
    output = result.stdout + result.stderr
    named = [f"{queries[int(n)][0]}: {message}" for n, message in _COMPLAINT.findall(output)]
    return named or [output]


def test_every_dashboard_query_parses(promtool: Path, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert check_queries(promtool, dashboard, tmp_path) == []


def test_a_query_that_does_not_parse_is_reported(promtool: Path, tmp_path: Path) -> None:
    dashboard = {
        "panels": [
            {"title": "fine", "targets": [{"expr": "sum(rate(x_total[$__rate_interval]))"}]},
            {"title": "broken", "targets": [{"expr": 'sum by (partner (x{job=~"$job"})'}]},
        ]
    }
    (complaint,) = check_queries(promtool, dashboard, tmp_path)
    assert complaint.startswith("panel 'broken': could not parse expression"), complaint


def test_grafana_variables_are_replaced_as_grafana_would() -> None:
    assert (
        as_prometheus_sees_it('rate(x{job=~"$job", instance=~"${instance}"}[$__rate_interval])')
        == 'rate(x{job=~"lead-router", instance=~".*"}[1m])'
    )
