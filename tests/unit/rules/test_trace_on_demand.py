"""A trace stored compact and explained later says what explaining at once would have said."""

from __future__ import annotations

import random

import pytest

from benchmarks.bench_rules import generate_document, generate_lead
from processor.geometry.geo import Geo
from processor.rules import Ledger, MemoryStore, compile_rules, decide
from processor.rules.trace import expand
from processor.rules.validate import validate_document
from processor.wire import lead_from_json

GEO = Geo(lat=40.7, lon=-74.0, country="US", source="coords")


@pytest.fixture(scope="module")
def snapshot():
    return compile_rules(validate_document(generate_document(300)), "4")


@pytest.mark.parametrize("limit", [0, 1, 3, 20, None])
def test_expanded_trace_equals_the_trace_explained_at_once(snapshot, limit):
    rng = random.Random(limit or 99)
    ledger = Ledger(MemoryStore())
    compared = counted = 0
    for n in range(300):
        lead = lead_from_json(generate_lead(rng, n)[0])
        geo = GEO if n % 2 else None
        decision = decide(snapshot, lead, geo, ledger)
        stored = decision.explain(0, None)
        counted += any(entry["step"] == "not_shown" for entry in stored)
        assert expand(stored, snapshot, lead, geo, limit) == decision.explain(limit, None)
        compared += 1
    assert compared == 300 and counted > 100  # most leads had assignments left to explain


def test_a_stored_trace_naming_no_tier_of_the_rules_is_kept_as_it_is(snapshot):
    forged = [
        {"step": "profile", "profile": "no-such-profile", "why": "..."},
        {"step": "tier", "tier": "category", "candidates": []},
        {"step": "assignment", "assignment": "x", "matched": True},
        {"step": "not_shown", "tier": "category", "assignments": 7},
        {"step": "tier", "tier": 5},
        "not an entry",
    ]
    lead = lead_from_json(generate_lead(random.Random(1), 1)[0])
    assert expand(forged, snapshot, lead, None, 20) == forged
