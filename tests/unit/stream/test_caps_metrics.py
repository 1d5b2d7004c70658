"""A decision's exclusions and cap use, as the metrics show them once it commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from processor.rules import Ledger, MemoryStore, compile_rules, decide, load_rules
from processor.rules.caps import Windows
from processor.state.report import cap_use
from processor.stream.caps_metrics import decision_metrics

RULES = """
partners:
  - id: capped-east
    format: json
    destinations: ["https://east.example"]
    caps: [{per: day, leads: 1}, {per: month, revenue: 100, currency: USD}]
  - id: shut-west
    format: json
    destinations: ["https://west.example"]
    schedule: {sat: ["09:00-12:00"]}
  - id: desk
    format: json
    destinations: ["https://desk.example"]
    caps: [{per: week, leads: 50}]
profiles:
  - id: metered
    sources: [metered-site]
    base_price: 12.5
    currency: USD
    fallback: desk
    assignments:
      - {id: west-first, partner: shut-west}
      - {id: east, partner: capped-east, caps: [{per: total, leads: 5}]}
"""
WHEN = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
"""A Monday: shut-west is closed."""


def _lead(number: int) -> dict[str, Any]:
    return {"lead_id": f"m-{number}", "submitted_at": WHEN.isoformat(), "site_id": "metered-site"}


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _excluded(partner: str, reason: str) -> float:
    labels = {"profile": "metered", "partner": partner, "reason": reason}
    return _value("lead_router_candidates_excluded_total", **labels)


def test_exclusions_count_and_cap_gauges_show_use_after_the_decision() -> None:
    snapshot = compile_rules(load_rules(RULES), "1")
    ledger = Ledger(MemoryStore())
    closed_before, capped_before = (
        _excluded("shut-west", "closed"),
        _excluded("capped-east", "capped"),
    )

    first = decide(snapshot, _lead(1), None, ledger, trace=False)
    assert [d.partner for d in first.deliveries] == ["capped-east"]
    metrics = decision_metrics(first)
    assert _excluded("shut-west", "closed") == closed_before, "counted before it commits"
    metrics.count()
    assert _excluded("shut-west", "closed") == closed_before + 1
    day = {"scope": "partner/capped-east", "per": "day", "unit": "leads"}
    month = {"scope": "partner/capped-east", "per": "month", "unit": "revenue USD"}
    total = {"scope": "assignment/metered/east", "per": "total", "unit": "leads"}
    assert (_value("lead_router_cap_used", **day), _value("lead_router_cap_limit", **day)) == (1, 1)
    assert (_value("lead_router_cap_used", **month), _value("lead_router_cap_limit", **month)) == (
        12.5,
        100,
    )
    assert _value("lead_router_cap_used", **total) == 1

    # east's day cap is full: the next lead goes to the fallback, whose cap is shown in turn.
    second = decide(snapshot, _lead(2), None, ledger, trace=False)
    assert second.outcome == "fallback"
    decision_metrics(second).count()
    assert _excluded("capped-east", "capped") == capped_before + 1
    assert _excluded("shut-west", "closed") == closed_before + 2
    week = {"scope": "partner/desk", "per": "week", "unit": "leads"}
    assert (_value("lead_router_cap_used", **week), _value("lead_router_cap_limit", **week)) == (
        1,
        50,
    )
    assert _value("lead_router_cap_used", **day) == 1


def test_a_decision_without_deliveries_sets_no_cap() -> None:
    snapshot = compile_rules(load_rules(RULES), "1")
    ledger = Ledger(MemoryStore())
    decide(snapshot, _lead(1), None, ledger, trace=False)
    again = decide(snapshot, _lead(1), None, ledger, trace=False)
    assert again.outcome == "duplicate"
    metrics = decision_metrics(again)
    assert (metrics.exclusions, metrics.caps) == ((), ())


def test_the_gauges_show_the_use_state_show_reads_back_after_each_decision() -> None:
    """The use comes from the counting, not from a second read of the ledger: the same."""
    snapshot = compile_rules(load_rules(RULES), "1")
    ledger = Ledger(MemoryStore())
    for number in range(1, 4):
        decision = decide(snapshot, _lead(number), None, ledger, trace=False)
        shown = {
            (gauge.scope, gauge.per, gauge.unit): (gauge.used, gauge.limit)
            for gauge in decision_metrics(decision).caps
        }
        read = (cap_use(compiled, (ledger,), Windows(WHEN)) for compiled, _ in decision.counted)
        assert shown == {(use.scope, use.per, use.unit): (use.used, use.limit) for use in read}
        assert shown
