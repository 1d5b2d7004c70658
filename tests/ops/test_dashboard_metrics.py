"""Every metric the dashboard and the alert rules read exists on a running lead-router's /metrics.

One processor runs on the test broker with its HTTP endpoint on a free port. Before any rules are
published it is alive (/healthz 200) but not ready (/readyz 503), as the Kubernetes probes expect;
once rules are in force and one lead of each outcome is routed (one past a full cap), and a
delivery worker has sent one partner's delivery, /metrics is scraped and every metric name (with
the label names its selectors match on) in the dashboard and the alert rules is looked up there.
Processor and worker run in this one process here, so one scrape holds the metrics of both.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deliverykit import working
from opskit import ALERTS, DASHBOARD
from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families
from promql import dashboard_expressions, rule_expressions, selectors
from streamkit import apply_rules, publish, running

from processor import metrics
from processor.localkafka import free_port
from processor.settings import Settings

pytestmark = pytest.mark.integration

RULES = """
partners:
  - {id: east, format: json, destinations: ["file://east"], caps: [{per: day, leads: 1}]}
  - {id: desk, format: text, destinations: ["mailto:desk@example.com"]}
profiles:
  - id: acme
    sources: [acme-site]
    strategy: first_match
    base_price: 12.5
    currency: USD
    fallback: desk
    assignments:
      - {id: service, partner: east, category: Service, price: 40}
"""


def _lead(lead_id: str, site: str, category: str | None) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "submitted_at": "2026-11-20T10:00:00Z",
        "site_id": site,
        "interest_category": category,
    }


LEADS: list[dict[str, Any] | bytes] = [
    _lead("routed-1", "acme-site", "Service"),
    _lead("capped-1", "acme-site", "Service"),  # east's cap is full: excluded, to the fallback
    _lead("fallback-1", "acme-site", "Used Vehicles"),
    _lead("unroutable-1", "nobody-knows-this-site", "Service"),
    b"not avro at all",
]
OUTCOMES = {"routed", "fallback", "unroutable", "rejected"}

# Labels Prometheus adds to every series of a target (static configs, ServiceMonitor), not the
# processor.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
# Series Prometheus makes itself for every target.
STANDARD_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def _until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)


def exposed(families: Iterator[Metric]) -> dict[str, set[str]]:
    """Series names a scrape can hold (by the families' types) → label names seen on them."""
    names: dict[str, set[str]] = {}
    for family in families:
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def _used() -> dict[str, dict[str, set[str]]]:
    """Where each metric is read (dashboard panel, variable, alert) → label names matched."""
    uses: dict[str, dict[str, set[str]]] = {}
    dashboard = json.loads(DASHBOARD.read_text())
    rules = yaml.safe_load(ALERTS.read_text())
    for where, expr in [*dashboard_expressions(dashboard), *rule_expressions(rules)]:
        for name, labels in selectors(expr).items():
            uses.setdefault(name, {}).setdefault(where, set()).update(labels)
    return uses


def test_dashboard_and_alerts_read_only_metrics_a_live_processor_exposes(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings.with_changes(metrics_port=free_port())
    base = f"http://127.0.0.1:{settings.metrics.metrics_port}"

    def outcomes_seen() -> set[str]:
        text = _get(base + "/metrics")[1]
        return {
            sample.labels["outcome"]
            for family in text_string_to_metric_families(text)
            if family.name == "lead_router_outcomes"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.value > 0
        }

    with running(settings):
        _until(lambda: _get(base + "/healthz")[0] == 200, "/healthz answers 200")
        assert _get(base + "/readyz")[0] == 503, "ready without rules"
        apply_rules(settings, RULES)
        _until(lambda: _get(base + "/readyz")[0] == 200, "/readyz answers 200 with rules")
        publish(settings, LEADS)
        _until(lambda: outcomes_seen() >= OUTCOMES, "one lead of each outcome counted")

        def lag() -> float:
            families = text_string_to_metric_families(_get(base + "/metrics")[1])
            samples = [
                s for f in families if f.name == "lead_router_consumer_lag" for s in f.samples
            ]
            return sum(s.value for s in samples) if samples else -1.0

        # LeadRouterStalled reads any lag without commits as a stall: drained means zero.
        _until(lambda: lag() == 0, "consumer lag reported as 0 once the input is drained")
        east = tmp_path / "east"
        worker = settings.with_changes(metrics_port=0, deliveries_dir=tmp_path)
        with working(worker, "east"):
            _until(lambda: east.is_dir() and any(east.iterdir()), "the worker delivered to east")
        status, text = _get(base + "/metrics")

    assert status == 200
    available = exposed(text_string_to_metric_families(text))

    problems = []
    for name, places in sorted(_used().items()):
        if name in STANDARD_METRICS:
            continue
        if name not in available:
            problems.append(f"{name} (read by {', '.join(sorted(places))}) is not exposed")
            continue
        for where, labels in places.items():
            unknown = labels - available[name] - TARGET_LABELS
            if unknown:
                problems.append(f"{where}: {name} has no label {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def test_the_dashboard_shows_every_metric_lead_router_defines() -> None:
    defined = exposed(
        family
        for collector in vars(metrics).values()
        if isinstance(collector, metrics.Counter | metrics.Gauge | metrics.Histogram)
        for family in collector.collect()
    )
    on_dashboard = {
        name
        for _, expr in dashboard_expressions(json.loads(DASHBOARD.read_text()))
        for name in selectors(expr)
    }
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in on_dashboard}
    missing = [
        name
        for name in defined
        if not name.endswith(("_created", "_sum", "_count"))
        and name.removesuffix("_total").removesuffix("_bucket") not in families
    ]
    assert not missing, f"defined in processor/metrics.py, not on the dashboard: {missing}"
