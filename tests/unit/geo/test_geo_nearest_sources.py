"""A lead whose postcode and IP address disagree, routed as the processor and dry-run route it:
the nearest store follows the profile's sources, the lead's geo the order of precision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from processor.geo.enrich import Enricher
from processor.routing import Router
from processor.rules import Decision, Ledger, MemoryStore, compile_rules, load_rules

RULES = """
partners:
  - {id: mtv, format: json, location: {lat: 37.39, lon: -122.08}}
  - {id: nyc, format: json, location: {lat: 40.75, lon: -73.99}}
profiles:
  - id: main
    sources: [web]
    nearest_store: {enabled: true%s}
    assignments: [{id: to-mtv, partner: mtv}, {id: to-nyc, partner: nyc}]
"""

LEAD = {
    "lead_id": "lead-1",
    "submitted_at": "2026-11-20T10:00:00Z",
    "site_id": "web",
    "visitor": {"ip": "8.8.8.8"},  # Mountain View in the test database
    "address": {"postcode": "10001", "country": "US"},  # New York
}


@pytest.fixture
def router(dbip_dir: Path) -> Iterator[Router]:
    enricher = Enricher(ip_db=dbip_dir)
    yield Router(enricher)
    enricher.close()


def route(router: Router, sources: str = "") -> Decision:
    snapshot = compile_rules(load_rules(RULES % sources), "1")
    return router.route_json(snapshot, LEAD, Ledger(MemoryStore()))


def nearest_step(decision: Decision) -> dict[str, object]:
    [step] = [entry for entry in decision.trace if entry["step"] == "nearest_store"]
    return step


def test_by_default_the_typed_postcode_beats_the_ip_address(router: Router) -> None:
    decision = route(router)
    assert [d.partner for d in decision.deliveries] == ["nyc"]
    assert decision.geo is not None and decision.geo.source == "ip"
    assert nearest_step(decision)["source"] == "postcode"


def test_a_profile_that_trusts_the_ip_address_first(router: Router) -> None:
    decision = route(router, ", sources: [ip, postcode]")
    assert [d.partner for d in decision.deliveries] == ["mtv"]
    assert nearest_step(decision)["source"] == "ip"
