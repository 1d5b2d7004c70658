"""The replay engine decides each lead as ``dry-run`` and the processor do, only without a trace.

Every test routes the same leads two ways, through ``Replayer.route`` from the input record's
bytes and through ``Router.route`` with the trace on (``dry-run``'s path), each over a ledger of
its own, and compares every decision: caps, duplicates, rotation, nearest store, opening hours and
fallbacks all depend on what the leads before changed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from processor.geo.enrich import Enricher
from processor.replay import Delivered, Replayer, Routed
from processor.routing import Router
from processor.rules import (
    Decision,
    Ledger,
    MemoryStore,
    Snapshot,
    compile_rules,
    validate_document,
)
from processor.wire import Codec, lead_from_json

TOPIC = "leads.submitted"
STATES = ["NY", "NJ", "MA", "CA", "TX"]
CATEGORIES = ["New Models", "Used Vehicles", "Service", None]


def _partner(id: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "format": "json", "destinations": [f"https://{id}.example"], **extra}


def _in_states(*states: str) -> list[list[dict[str, Any]]]:
    return [[{"field": "address.state", "op": "in_list", "value": list(states)}]]


DOCUMENT: dict[str, Any] = {
    "partners": [
        _partner("capped", caps=[{"per": "day", "leads": 3}]),
        _partner("earner", caps=[{"per": "total", "revenue": 200, "currency": "USD"}]),
        _partner("picky", reject_duplicates_within="7d"),
        _partner(
            "office",
            timezone="America/New_York",
            schedule={"mon-fri": ["09:00-17:00"]},
        ),
        _partner("north", location={"lat": 42.36, "lon": -71.06}),
        _partner("south", location={"lat": 29.76, "lon": -95.37}),
        _partner("west", location={"lat": 34.05, "lon": -118.24}),
        _partner("house", caps=[{"per": "day", "leads": 5}]),
        _partner("bdc"),
    ],
    "profiles": [
        {
            "id": "first",
            "sources": ["site-first"],
            "strategy": "first_match",
            "base_price": 20.0,
            "currency": "USD",
            "fallback": {"partner": "house", "price": 2.0},
            "duplicates": {"keys": ["contact.email", "contact.phone"], "within": "2d"},
            "assignments": [
                {"id": "capped-ny", "partner": "capped", "filter": _in_states("NY", "NJ")},
                {
                    "id": "office-service",
                    "partner": "office",
                    "category": "Service",
                    "filter": [],
                },
                {"id": "earner-any", "partner": "earner", "price": 45.0, "filter": []},
            ],
        },
        {
            "id": "rotating",
            "sources": ["site-rotating"],
            "strategy": "round_robin",
            "base_price": 10.0,
            "currency": "USD",
            "fallback": "bdc",
            "assignments": [
                {"id": "rr-capped", "partner": "capped", "filter": []},
                {"id": "rr-picky", "partner": "picky", "filter": _in_states("NY", "MA", "CA")},
                {"id": "rr-office", "partner": "office", "filter": []},
            ],
        },
        {
            "id": "weighted",
            "sources": ["site-weighted"],
            "strategy": "weighted",
            "base_price": 15.0,
            "currency": "USD",
            "assignments": [
                {"id": "w-picky", "partner": "picky", "weight": 3, "filter": []},
                {"id": "w-earner", "partner": "earner", "weight": 1, "price": 30.0, "filter": []},
                {"id": "w-capped", "partner": "capped", "weight": 2, "filter": _in_states("TX")},
            ],
        },
        {
            "id": "stores",
            "sources": ["site-stores"],
            "strategy": "first_match",
            "base_price": 25.0,
            "currency": "EUR",
            "nearest_store": {"enabled": True, "max_km": 1500},
            "fallback": "bdc",
            "assignments": [
                {"id": "s-north", "partner": "north", "filter": []},
                {"id": "s-south", "partner": "south", "filter": []},
                {"id": "s-west", "partner": "west", "category": "New Models", "filter": []},
            ],
        },
        {
            "id": "everyone",
            "sources": ["site-everyone"],
            "strategy": "all",
            "max_partners": 2,
            "base_price": 5.0,
            "currency": "USD",
            "assignments": [
                {"id": "e-picky", "partner": "picky", "price": 7.0, "filter": []},
                {"id": "e-capped", "partner": "capped", "price": 9.0, "filter": []},
                {"id": "e-earner", "partner": "earner", "price": 8.0, "filter": []},
            ],
        },
    ],
}

SITES = ["site-first", "site-rotating", "site-weighted", "site-stores", "site-everyone", "nowhere"]


def _lead(rng: random.Random, n: int) -> dict[str, Any]:
    """A lead in the contract's JSON shape; people, places and days repeat, so that caps fill,
    duplicates are caught and partners close."""
    day = rng.randrange(1, 8)
    hour = rng.randrange(0, 24)
    return {
        "lead_id": f"lead-{rng.randrange(n + 1) if rng.random() < 0.05 else n}",
        "submitted_at": f"2024-05-{day:02d}T{hour:02d}:{rng.randrange(60):02d}:00Z",
        "site_id": rng.choice(SITES),
        "interest_category": rng.choice(CATEGORIES),
        "contact": {
            "first_name": "Sam",
            "email": rng.choice([f"person{rng.randrange(40)}@example.org", None]),
            "phone": rng.choice([f"+1555010{rng.randrange(10)}", None]),
        },
        "address": {"state": rng.choice(STATES), "postcode": None, "country": "US"},
        "visitor": rng.choice(
            [
                None,
                {"lat": rng.uniform(25, 48), "lon": rng.uniform(-124, -67)},
                {"lat": 0, "lon": 0},
            ]
        ),
    }


def _leads(count: int, seed: int = 5) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for n in range(count):
        yield _lead(rng, n)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return compile_rules(validate_document(DOCUMENT), "7")


@pytest.fixture(scope="module")
def enricher() -> Iterator[Enricher]:
    found = Enricher()
    yield found
    found.close()


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def _as_routed(decision: Decision) -> Routed:
    """The decision as replay reports one."""
    return Routed(
        decision.lead_id,
        decision.outcome,
        decision.profile,
        decision.duplicate_of,
        tuple(Delivered(d.partner, d.assignment, d.price, d.currency) for d in decision.deliveries),
        decision.error,
    )


def _record(codec: Codec, document: dict[str, Any]) -> bytes:
    """The lead as the input topic holds it: Avro, single-object encoding."""
    return codec.encode(TOPIC, "LeadSubmitted", lead_from_json(document))


def test_replay_decides_every_lead_as_dry_run_does(
    snapshot: Snapshot, enricher: Enricher, codec: Codec
) -> None:
    replayer = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
    router, ledger = Router(enricher), Ledger(MemoryStore())
    outcomes: set[tuple[str | None, str]] = set()
    for document in _leads(1500):
        routed = replayer.route(TOPIC, _record(codec, document))
        expected = router.route(snapshot, lead_from_json(document), ledger)
        assert routed == _as_routed(expected), document["lead_id"]
        outcomes.add((routed.profile, routed.outcome))
    # the leads reach every way a decision can go, or the comparison proves little
    assert outcomes >= {
        ("first", "routed"),
        ("first", "fallback"),
        ("first", "duplicate"),
        ("first", "unroutable"),
        ("rotating", "routed"),
        ("rotating", "fallback"),
        ("weighted", "routed"),
        ("weighted", "unroutable"),
        ("stores", "routed"),
        ("stores", "fallback"),
        ("everyone", "routed"),
        (None, "unroutable"),
    }


def test_a_lead_the_processor_rejects_is_rejected_in_the_words_of_its_audit_record(
    snapshot: Snapshot, enricher: Enricher, codec: Codec
) -> None:
    replayer = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
    blank_site = {"lead_id": "lead-9", "submitted_at": "2024-05-01T10:00:00Z", "site_id": "x"}
    value = codec.encode(TOPIC, "LeadSubmitted", {**lead_from_json(blank_site), "site_id": " "})
    expected = Router(enricher).route_json(
        snapshot, {**blank_site, "site_id": " "}, Ledger(MemoryStore())
    )
    assert replayer.route(TOPIC, value) == _as_routed(expected)
    assert expected.error == "invalid-lead: site_id: must not be empty"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty"),
        (b"\x07not avro", "unknown-framing"),
        (b"\xc3\x01" + bytes(8), "unknown-fingerprint"),
    ],
)
def test_bytes_that_are_no_lead_are_rejected_without_a_lead_id(
    snapshot: Snapshot, enricher: Enricher, codec: Codec, value: bytes, reason: str
) -> None:
    routed = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec).route(TOPIC, value)
    assert (routed.lead_id, routed.outcome, routed.deliveries) == (None, "rejected", ())
    assert routed.error is not None and routed.error.startswith(f"{reason}: ")


def test_a_truncated_record_is_rejected_and_the_leads_after_it_still_routed(
    snapshot: Snapshot, enricher: Enricher, codec: Codec
) -> None:
    first, second = _leads(2, seed=9)
    replayer = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
    routed = replayer.route(TOPIC, _record(codec, first)[:-3])
    assert routed.outcome == "rejected" and routed.error is not None
    assert routed.error.startswith("truncated: ")
    expected = Router(enricher).route(snapshot, lead_from_json(second), Ledger(MemoryStore()))
    assert replayer.route(TOPIC, _record(codec, second)) == _as_routed(expected)


def test_explain_gives_the_trace_dry_run_gives_and_counts_the_lead_once(
    snapshot: Snapshot, enricher: Enricher, codec: Codec
) -> None:
    store = MemoryStore()
    replayer = Replayer(snapshot, enricher, Ledger(store), codec)
    router, ledger = Router(enricher), Ledger(MemoryStore())
    for document in _leads(400, seed=3):
        replayer.route(TOPIC, _record(codec, document))
        expected = router.route(snapshot, lead_from_json(document), ledger)
        routed_state = dict(store.data)
        explained = replayer.explain()
        assert explained.as_dict() == expected.as_dict()
        assert store.data == routed_state  # as route left it
        assert replayer.explain().as_dict() == expected.as_dict()  # and again
        assert store.data == routed_state


def test_explain_after_a_rejection_says_there_is_nothing_to_explain(
    snapshot: Snapshot, enricher: Enricher, codec: Codec
) -> None:
    replayer = Replayer(snapshot, enricher, Ledger(MemoryStore()), codec)
    with pytest.raises(LookupError):
        replayer.explain()
    replayer.route(TOPIC, _record(codec, next(_leads(1))))
    replayer.explain()
    replayer.route(TOPIC, b"")
    with pytest.raises(LookupError):
        replayer.explain()
