"""dry-run decides as the processor does: the same leads through both give the same decisions.

About 2,000 leads: the demo's varied sample (every outcome; a buyer's daily cap reached; geolocation
by coordinates, IP address and postcode), the stream tests' mix (round_robin and weighted
rotation), and leads that are odd or invalid yet decodable, as a careless publisher writes them
(blank site ids, custom fields of the wrong type, coordinates out of range, timestamps at the
calendar's ends, text no form should hold).
They are published as Avro to one input partition, in order, and routed by the processor on the
real broker; dry-run routes their JSON form, in the same order, with the same rules. Each audit
record must equal dry-run's decision for its lead: outcome, profile, tier, deliveries, geolocation,
the whole trace (its geo step included) and, for a rejected lead, the reason.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from samples import WEIGHTED_RULES, WEIGHTED_SITES, leads
from streamkit import apply_rules, dry_run, reading, running

from processor.demo.leads import sample_leads
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

pytestmark = pytest.mark.integration

DEMO_RULES = Path(__file__).parents[2] / "processor" / "demo" / "rules.yaml"

ODDITIES: list[dict[str, Any]] = [
    {"site_id": ""},
    {"site_id": " "},
    {"site_id": "\t\n"},
    {"site_id": "\u3000"},
    {"site_id": " LeadMarket "},
    {"site_id": "METRO-AUTO-WEB"},
    {"interest_category": ""},
    {"interest_category": "  service "},
    {"interest_category": "x" * 5000},
    {"fields": {"budget": "lots", "credit_score": True}},
    {"fields": {"budget": "70000", "credit_score": "720"}},
    {"fields": {"budget": -1, "credit_score": 1e300, "undeclared": None}},
    {"fields": {"budget": 2**62, "lead_type": " REFINANCE ", "credit_score": 650}},
    {"visitor": {"lat": 91.0, "lon": 0.0}},
    {"visitor": {"lat": 0.0, "lon": 0.0}},
    {"visitor": {"lat": 40.75, "lon": None}},
    {"visitor": {"ip": "not an ip"}},
    {"visitor": {"ip": "10.1.2.3"}},
    {"visitor": {"ip": "2001:db8::1"}},
    {"address": {"postcode": "00000", "country": "US"}},
    {"address": {"postcode": " 02108-1234 ", "state": "ma", "country": "us"}},
    {"address": {"postcode": "SW1A 1AA", "country": "GB"}},
    {"address": None, "visitor": None, "vehicle": None, "contact": None},
    {"submitted_at": "0001-01-01T00:00:00Z"},
    {"submitted_at": "9999-12-31T23:59:59.999Z"},
    {"submitted_at": "2026-11-20T10:00:00+14:00"},
    {"submitted_at": "2026-11-20T10:00:00"},
    {"comments": "\u0000\u202e😀 <script>&amp;</script>"},
    {"comments": "é" * 50_000},
]
"""One change each to a sample lead: what publishers get wrong, or right in odd ways."""


def rules_document() -> dict[str, Any]:
    """The demo's rules and the stream tests' rules side by side, in one document."""
    demo, mix = yaml.safe_load(DEMO_RULES.read_text()), yaml.safe_load(WEIGHTED_RULES)
    return {
        "fields": demo["fields"] | mix["fields"],
        "partners": demo["partners"] + mix["partners"],
        "profiles": demo["profiles"] + mix["profiles"],
    }


def corpus() -> list[dict[str, Any]]:
    """The leads in the order published: odd ones spread among the ordinary ones."""
    ordinary = list(sample_leads(1200, seed=11)) + leads(500, "mix", WEIGHTED_SITES)
    rng = random.Random(5)
    odd = []
    for n in range(300):
        base = dict(rng.choice(ordinary))
        change = ODDITIES[n % len(ODDITIES)]
        for part in ("address", "visitor", "fields"):
            if isinstance(change.get(part), dict) and isinstance(base.get(part), dict):
                change = {**change, part: base[part] | change[part]}
        # A person of its own: the copy of a marketplace lead is no duplicate of its original.
        person = base.get("contact") or {}
        person = {**person, "email": f"odd{n}@example.com", "phone": f"+1-555-999-{n:04d}"}
        odd.append({**base, "contact": person, **change, "lead_id": f"odd-{n:03d}-ü😀"})
    mixed = ordinary + odd
    rng.shuffle(mixed)
    return mixed


def as_record(lead: dict[str, Any]) -> dict[str, Any]:
    """The ``LeadSubmitted`` record a publisher writes for a JSON lead, a blank site id and all."""
    return {**lead_from_json({**lead, "site_id": "any"}), "site_id": lead["site_id"]}


def publish_in_order(settings: Settings, sample: list[dict[str, Any]]) -> None:
    """Publishes the leads as Avro to input partition 0, so that offset order is list order."""
    Topics(settings).ensure_base()
    codec = Codec()
    producer = Producer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "enable.idempotence": True}
    )
    for lead in sample:
        value = codec.encode(settings.topics.input_topic, "LeadSubmitted", as_record(lead))
        producer.produce(settings.topics.input_topic, value, lead["lead_id"].encode(), partition=0)
        producer.poll(0)
    assert producer.flush(60) == 0
    producer.close()


def as_audited(decision: dict[str, Any]) -> dict[str, Any]:
    """What an audit record and a dry-run decision must agree on, in one shape."""
    trace = decision["trace"]
    return {
        "outcome": decision["outcome"],
        "profile": decision["profile"],
        "tier": decision["tier"],
        "deliveries": [
            {k: d[k] for k in ("partner", "assignment", "price", "currency", "distance_km")}
            for d in decision["deliveries"]
        ],
        "geo": decision["geo"],
        "trace": json.loads(trace) if isinstance(trace, str) else trace,
        "error": decision["error"],
    }


def test_the_processor_and_dry_run_decide_each_lead_the_same(
    stream_settings: Settings, tmp_path: Path
) -> None:
    sample = corpus()
    assert len(sample) == 2000
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(rules_document()))
    apply_rules(stream_settings, rules)
    publish_in_order(stream_settings, sample)
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(stream_settings):
            audit.wait_for(len(sample))
        audited = {d["lead_id"]: as_audited(d) for d in audit.drain()}

    trace_limit = str(stream_settings.processor.audit_trace_failures)
    expected = {
        d["lead_id"]: as_audited(d)
        for d in dry_run(rules, sample, tmp_path, "--trace-limit", trace_limit)
    }
    assert set(audited) == set(expected) == {lead["lead_id"] for lead in sample}
    differ = [lead_id for lead_id in expected if audited[lead_id] != expected[lead_id]]
    assert not differ, (
        f"{len(differ)} of {len(sample)} decisions differ, first {differ[0]}:\n"
        f"processor {audited[differ[0]]}\ndry-run   {expected[differ[0]]}"
    )

    # The comparison covered what it claims to.
    outcomes = {d["outcome"] for d in expected.values()}
    assert outcomes == {"routed", "fallback", "unroutable", "duplicate", "rejected"}, outcomes
    capped = [
        d
        for d in expected.values()
        if any(str(entry.get("excluded")).startswith("capped") for entry in d["trace"])
    ]
    assert capped, "no candidate was passed over for a cap"
    rejected = [d for d in expected.values() if d["outcome"] == "rejected"]
    assert {d["error"] for d in rejected} == {"invalid-lead: site_id: must not be empty"}
    geo_steps = [d for d in expected.values() if d["trace"] and d["trace"][0]["step"] == "geo"]
    assert len(geo_steps) > 100
    sources = {d["geo"]["source"] for d in expected.values() if d["geo"]}
    assert {"coords", "postcode"} <= sources
