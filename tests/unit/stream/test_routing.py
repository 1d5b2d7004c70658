"""The processor and dry-run route a lead through one function: one decision, one trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stagekit import RULES, Stages, lead

from processor.geo.enrich import Enricher
from processor.routing import Router
from processor.rules import Ledger, MemoryStore, compile_rules, load_rules
from processor.settings import Settings
from processor.wire import Codec, lead_from_json

LEAD = {
    "lead_id": "lead-1",
    "submitted_at": "2026-11-20T10:00:00Z",
    "site_id": "web",
    "visitor": {"ip": "203.0.113.7"},
    "address": {"postcode": "10001", "country": "US"},
}


def audited(folder: Path, value: bytes) -> dict[str, Any]:
    """The audit record the processor writes for an input record, through both stages."""
    settings = Settings()
    stages = Stages(folder, RULES)
    try:
        records = stages.process(value).records
    finally:
        stages.state.close()
    (audit,) = [r for r in records if r.topic == settings.topics.audit_topic]
    return Codec().decode(audit.topic, audit.value or b"", "RoutingDecision")


def dry_run(document: dict[str, Any]) -> dict[str, Any]:
    snapshot = compile_rules(load_rules(RULES), "1")
    decision = Router(Enricher()).route_json(snapshot, document, Ledger(MemoryStore()))
    return decision.as_dict(Settings().processor.audit_trace_failures)


def test_the_audit_trace_has_the_geo_step_that_dry_run_shows(tmp_path: Path) -> None:
    record = audited(tmp_path, lead(visitor=LEAD["visitor"], address=LEAD["address"]))
    trace = json.loads(record["trace"])
    note = "visitor ip not looked up: no IP database configured"
    assert trace[0] == {"step": "geo", "notes": [note]}
    assert record["geo"]["source"] == "postcode"
    assert trace == dry_run(LEAD)["trace"]


def test_a_lead_the_processor_rejects_is_rejected_by_dry_run_in_the_same_words(
    tmp_path: Path,
) -> None:
    record = audited(
        tmp_path, Codec().encode("leads", "LeadSubmitted", {**lead_from_json(LEAD), "site_id": " "})
    )
    decision = dry_run({**LEAD, "site_id": " "})
    assert (record["outcome"], record["error"]) == (
        "rejected",
        "invalid-lead: site_id: must not be empty",
    )
    assert (decision["outcome"], decision["error"]) == (record["outcome"], record["error"])
    assert (decision["deliveries"], decision["trace"]) == ([], json.loads(record["trace"]))
