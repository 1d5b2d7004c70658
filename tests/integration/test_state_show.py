"""``lead-router state show`` on a real broker: the cap use a running processor committed.

The processor routes leads under caps and commits its state to the state topic; ``state show``, a
separate process as an operator runs it, reads the rules in force and that topic, and reports the
use of each cap in the leads' window. The input has two partitions, so the state topic may have
two as well (one ledger per input partition), or one (the decide stage's): the use is the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from streamkit import apply_rules, publish, reading, running, settings_env

from processor.localkafka import free_port
from processor.settings import Settings

pytestmark = pytest.mark.integration

RULES = """
partners:
  - id: east
    format: json
    destinations: ["file:///dev/null"]
    timezone: America/New_York
    caps: [{per: day, leads: 5}]
  - {id: desk, format: text, destinations: ["file:///dev/null"]}
profiles:
  - id: acme
    sources: [acme-site]
    base_price: 10
    currency: USD
    fallback: desk
    assignments:
      - id: to-east
        partner: east
        price: 40
        caps: [{per: month, revenue: 1000, currency: USD}]
"""

AT = "2026-11-20T15:00:00Z"


def _lead(number: int) -> dict[str, Any]:
    return {"lead_id": f"lead-{number}", "submitted_at": AT, "site_id": "acme-site"}


def _state_show(settings: Settings, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", "state", "show", *flags],
        env=settings_env(settings) | {"COLUMNS": "200"},  # a table in one line a row
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_state_show_reports_the_cap_use_the_processor_committed(
    stream_settings: Settings,
) -> None:
    settings = stream_settings.with_changes(topic_partitions=2)
    without_rules = _state_show(settings)
    assert without_rules.returncode == 1
    assert "no rules were ever applied" in without_rules.stderr
    assert "Traceback" not in without_rules.stderr

    apply_rules(settings, RULES)
    publish(settings, [_lead(number) for number in range(3)])
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        decisions = audit.wait_for(3)
    assert {d["outcome"] for d in decisions} == {"routed"}

    shown = _state_show(settings, "--format", "json", "--at", AT)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["at"] == "2026-11-20T15:00:00.000Z"
    (east,) = [p for p in report["partners"] if p["partner"] == "east"]
    (day,) = east["caps"]
    assert (day["window"], day["used"], day["limit"], day["left"]) == ("2026-11-20", 3, 5, 2)
    assert day["resets_at"] == "2026-11-21T00:00:00-05:00"
    (assignment,) = report["assignments"]
    (month,) = assignment["caps"]
    assert (month["used"], month["left"], month["currency"]) == (120.0, 880.0, "USD")

    table = _state_show(settings, "--partner", "east", "--at", AT)
    assert table.returncode == 0, table.stderr
    assert "2026-11-21 00:00 America/New_York" in table.stdout
    assert "120.00 USD" in table.stdout

    unknown = _state_show(settings, "--partner", "nobody")
    assert unknown.returncode == 1
    assert "has no partner 'nobody'" in unknown.stderr


def test_state_show_without_a_broker_says_so_and_exits_4(stream_settings: Settings) -> None:
    nowhere = stream_settings.with_changes(
        bootstrap_servers=f"127.0.0.1:{free_port()}", answer_timeout_s=3.0
    )
    done = _state_show(nowhere)
    assert done.returncode == 4
    assert "did not answer within 3 s" in done.stderr
    assert "Traceback" not in done.stderr
