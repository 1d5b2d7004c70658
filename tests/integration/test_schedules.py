"""Opening hours and cap windows on the real broker: leads submitted inside and outside a
partner's hours, across both DST changes and the end of a month, go where its schedule and caps
say, judged at their ``submitted_at`` in the partner's zone, and the processor decides each exactly
as ``dry-run`` does, trace included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamkit import apply_rules, publish, reading, running, start_dry_run

from processor.settings import Settings

pytestmark = pytest.mark.integration

NEVER = [[{"field": "site_id", "op": "equals", "value": "nowhere"}]]

RULES: dict[str, Any] = {
    "partners": [
        {
            "id": "east",
            "format": "json",
            "timezone": "America/New_York",
            "schedule": {
                "mon-fri": ["08:00-18:00"],
                "sat": ["09:00-12:00", "13:00-16:00"],
                "sun": ["01:00-02:00"],
                "closed_dates": ["2026-12-25"],
            },
        },
        {"id": "anytime", "format": "json"},
        {
            "id": "night",
            "format": "json",
            "timezone": "Europe/Berlin",
            "schedule": {"mon-sun": ["00:00-06:00"]},
        },
        {
            "id": "monthly",
            "format": "json",
            "timezone": "America/New_York",
            "caps": [{"per": "month", "leads": 1}],
        },
    ],
    "profiles": [
        {
            "id": "shop",
            "sources": ["shop"],
            "assignments": [
                {"id": "to-east", "partner": "east"},
                {"id": "to-anytime", "partner": "anytime"},
            ],
        },
        {
            "id": "late",
            "sources": ["late"],
            "fallback": "night",
            "assignments": [{"id": "never", "partner": "anytime", "filter": NEVER}],
        },
        {
            "id": "month",
            "sources": ["month"],
            "assignments": [
                {"id": "to-monthly", "partner": "monthly"},
                {"id": "to-anytime-too", "partner": "anytime"},
            ],
        },
    ],
}

EXPECTED: dict[tuple[str, str], tuple[str, str | None]] = {
    ("shop", "2026-11-30T12:59:59.999Z"): ("routed", "anytime"),  # Mon 07:59 in New York
    ("shop", "2026-11-30T13:00:00Z"): ("routed", "east"),  # Mon 08:00
    ("shop", "2026-11-30T22:59:00Z"): ("routed", "east"),  # Mon 17:59
    ("shop", "2026-11-30T23:00:00Z"): ("routed", "anytime"),  # Mon 18:00
    ("shop", "2026-11-28T17:30:00Z"): ("routed", "anytime"),  # Sat 12:30, between ranges
    ("shop", "2026-11-28T18:00:00Z"): ("routed", "east"),  # Sat 13:00
    ("shop", "2026-12-25T15:00:00Z"): ("routed", "anytime"),  # a closed date
    ("shop", "2026-11-01T05:30:00Z"): ("routed", "east"),  # Sun 01:30 EDT
    ("shop", "2026-11-01T06:30:00Z"): ("routed", "east"),  # Sun 01:30 EST, the second time
    ("shop", "2026-11-01T07:00:00Z"): ("routed", "anytime"),  # Sun 02:00 EST
    ("shop", "2026-11-30T10:00:00-03:00"): ("routed", "east"),  # Mon 08:00 in New York
    ("shop", "2026-03-08T06:30:00Z"): ("routed", "east"),  # Sun 01:30 EST, clocks go forward
    ("shop", "2026-03-08T07:30:00Z"): ("routed", "anytime"),  # Sun 03:30 EDT: 02:00 never came
    ("late", "2026-11-30T04:59:00Z"): ("fallback", "night"),  # 05:59 in Berlin
    ("late", "2026-11-30T05:00:00Z"): ("unroutable", None),  # 06:00 in Berlin
    ("late", "2026-11-29T23:00:00Z"): ("fallback", "night"),  # 00:00 in Berlin
    ("month", "2026-11-02T15:00:00Z"): ("routed", "monthly"),  # November's one lead
    ("month", "2026-12-01T04:59:00Z"): ("routed", "anytime"),  # Nov 30 23:59 in New York
    ("month", "2026-12-01T05:00:00Z"): ("routed", "monthly"),  # Dec 1 00:00: a new month
    ("month", "2026-12-31T12:00:00Z"): ("routed", "anytime"),  # December's one lead was sold
}


def lead(n: int, site: str, submitted_at: str) -> dict[str, Any]:
    return {"lead_id": f"hours-{n:02d}", "site_id": site, "submitted_at": submitted_at}


def compared(decision: dict[str, Any]) -> dict[str, Any]:
    """What the audit record and dry-run's decision must agree on."""
    trace = decision["trace"]
    return {
        "outcome": decision["outcome"],
        "tier": decision["tier"],
        "deliveries": [(d["partner"], d["assignment"], d["price"]) for d in decision["deliveries"]],
        "trace": json.loads(trace) if isinstance(trace, str) else trace,
    }


def test_leads_in_and_out_of_hours_are_routed_as_dry_run_decides(
    stream_settings: Settings, tmp_path: Path
) -> None:
    sample = [lead(n, site, at) for n, (site, at) in enumerate(EXPECTED)]
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    apply_rules(stream_settings, rules)
    publish(stream_settings, sample)
    trace_limit = str(stream_settings.processor.audit_trace_failures)
    # dry-run decides while the processor does.
    offline = start_dry_run(rules, sample, tmp_path, "--trace-limit", trace_limit)
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(stream_settings):
            audit.wait_for(len(sample))
        audited = {d["lead_id"]: d for d in audit.drain()}

    expected = {d["lead_id"]: d for d in offline()}
    assert set(audited) == set(expected) == {item["lead_id"] for item in sample}
    for item, (outcome, partner) in zip(sample, EXPECTED.values(), strict=True):
        decision = audited[item["lead_id"]]
        partners = [d["partner"] for d in decision["deliveries"]]
        assert (decision["outcome"], partners) == (outcome, [partner] if partner else []), item
        assert compared(decision) == compared(expected[item["lead_id"]]), item

    closed = compared(audited["hours-00"])["trace"]
    [east] = [e for e in closed if e.get("assignment") == "to-east"]
    assert east["excluded"] == ("closed: Mon 07:59 America/New_York; open mon 08:00-18:00")
    [ending] = [e for e in compared(audited["hours-14"])["trace"] if e["step"] == "unroutable"]
    assert ending["why"] == (
        "no tier has a candidate and fallback partner 'night' is closed: Mon 06:00 "
        "Europe/Berlin; open mon 00:00-06:00"
    )
    capped = compared(audited["hours-17"])["trace"]
    [monthly] = [e for e in capped if e.get("assignment") == "to-monthly"]
    assert monthly["excluded"] == (
        "capped: partner monthly has 1 of 1 leads per month; resets 2026-12-01 00:00 "
        "America/New_York"
    )
