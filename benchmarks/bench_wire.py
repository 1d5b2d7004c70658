"""Microseconds per record for the codec's hot path, beside fastavro alone for scale.

    .venv/bin/python benchmarks/bench_wire.py

A typical lead: contact, address, visitor, vehicle and five custom fields set. The processor
decodes one lead per input record and writes it on as a ``LeadMatched``; the decide stage reads
the lead back from it and encodes one delivery per partner (the lead copied as the body it came
as) plus the audit record. Each encoding is timed twice in the same run: by the writers compiled
from our schemas, as the codec writes, and by fastavro alone, as it wrote before them.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from io import BytesIO
from typing import Any
from unittest import mock

from fastavro import schemaless_reader, schemaless_writer

from processor.wire import Codec, SchemaName, lead_from_json, load_schemas

LEAD_JSON: dict[str, Any] = {
    "lead_id": "lead-0001",
    "submitted_at": "2024-05-01T12:30:15.123Z",
    "site_id": "acme-site",
    "interest_category": "Service",
    "offer_id": "spring-service",
    "contact": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+15551234567",
    },
    "address": {
        "street": "1 Main St",
        "city": "Los Angeles",
        "state": "CA",
        "postcode": "90012",
        "country": "US",
    },
    "visitor": {"ip": "203.0.113.7", "lat": 34.05, "lon": -118.24, "user_agent": "Mozilla/5.0"},
    "vehicle": {"year": 2024, "make": "Toyota", "model": "Camry", "condition": "new"},
    "fields": {"budget": 120000, "ratio": 0.25, "trade_in": True, "lead_type": "web", "x": None},
    "comments": "Call after 5pm",
}


def per_record_us(
    rows: list[tuple[str, Callable[[], object]]], number: int = 5000, rounds: int = 5
) -> dict[str, float]:
    """Each row's best round, in microseconds per call. The rows take turns, round after round,
    so that a busy moment of a shared machine weighs on all of them alike."""
    best = dict.fromkeys((label for label, _ in rows), float("inf"))
    for _ in range(rounds):
        for label, action in rows:
            best[label] = min(best[label], timeit.timeit(action, number=number) / number * 1e6)
    return best


def main() -> None:
    lead = lead_from_json(LEAD_JSON)
    now = datetime.now(UTC)
    geo = {"lat": 34.05, "lon": -118.24, "source": "coords", "country": "US"}
    delivery = {
        "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
        "lead_id": lead["lead_id"],
        "profile": "acme",
        "partner": "crm-east",
        "partner_name": "East CRM",
        "assignment": "svc-ca",
        "tier": "category",
        "price": 40.0,
        "currency": "USD",
        "distance_km": None,
        "format": "adf_xml",
        "destinations": ["mailto:leads@east.example"],
        "rules_version": "7",
        "routed_at": now,
        "geo": geo,
        "lead": lead,
    }
    decision = {
        "lead_id": lead["lead_id"],
        "site_id": lead["site_id"],
        "outcome": "routed",
        "profile": "acme",
        "tier": "category",
        "deliveries": [
            {key: delivery[key] for key in ("delivery_id", "partner", "assignment", "price")}
            | {"currency": "USD", "distance_km": None}
        ],
        "geo": geo,
        "trace": '[{"assignment":"svc-ca","matched":true}]',
        "error": None,
        "rules_version": "7",
        "source": {"topic": "leads.submitted", "partition": 0, "offset": 42},
        "decided_at": now,
    }

    single = Codec()
    registry = Codec("mock://bench")
    topic = "leads.submitted"
    framed = {"single-object": single.encode(topic, "LeadSubmitted", lead)}
    framed["registry"] = registry.encode(topic, "LeadSubmitted", lead)
    parsed = load_schemas()["LeadSubmitted"].parsed
    body = framed["single-object"][10:]
    decide = "lead-router.decide"
    matched = {
        "lead": body,
        "geo": geo,
        "notes": [],
        "locations": [{"source": "coords", "geo": geo}],
        "source": {"topic": topic, "partition": 0, "offset": 42},
        "key": b"lead-0001",
        "headers": [{"name": "traceparent", "value": b"00-01"}],
        "rules_version": "7",
        "matches": {"category": [0, 4], "all": [9]},
    }
    encodings: list[tuple[SchemaName, str, dict[str, Any], dict[str, bytes] | None]] = [
        ("LeadMatched", decide, matched, None),
        ("LeadDelivery", "deliveries.crm-east", delivery, {"lead": body}),
        ("RoutingDecision", "lead-router.audit", decision, None),
    ]
    # A codec whose writers did not compile writes every body with fastavro: it keeps that
    # outcome from its first encoding of each schema on.
    fastavro_only = Codec("mock://bench")
    with mock.patch("processor.wire.codec.compile_writer", return_value=None):
        for schema, out, record, encoded in encodings:
            fastavro_only.encode(out, schema, record, encoded)

    def fastavro_read() -> object:
        return schemaless_reader(BytesIO(body), parsed, None)

    def fastavro_write() -> object:
        sink = BytesIO()
        schemaless_writer(sink, parsed, lead)
        return sink.getvalue()

    framed_matched = single.encode(decide, "LeadMatched", matched)
    matched_schema = load_schemas()["LeadMatched"].parsed

    def fastavro_read_matched() -> object:
        return schemaless_reader(BytesIO(framed_matched[10:]), matched_schema, None)

    rows: list[tuple[str, Callable[[], object]]] = [
        ("fastavro alone: read a lead", fastavro_read),
        (
            "decode LeadSubmitted, single-object",
            lambda: single.decode(topic, framed["single-object"]),
        ),
        ("decode LeadSubmitted, registry", lambda: registry.decode(topic, framed["registry"])),
        ("fastavro alone: write a lead", fastavro_write),
        (
            "encode LeadSubmitted, single-object",
            lambda: single.encode(topic, "LeadSubmitted", lead),
        ),
        ("encode LeadSubmitted, registry", lambda: registry.encode(topic, "LeadSubmitted", lead)),
        ("read a lead back from a LeadMatched", lambda: single.read_lead_body(body)),
        ("fastavro alone: read a LeadMatched", fastavro_read_matched),
        (
            "decode LeadMatched, single-object",
            lambda: single.decode(decide, framed_matched, "LeadMatched"),
        ),
    ]
    for schema, out, record, encoded in encodings:
        copied = ", lead copied" if encoded else ""
        for label, codec in (("compiled", registry), ("fastavro", fastavro_only)):
            rows.append(
                (
                    f"encode {schema}{copied}, {label}",
                    partial(codec.encode, out, schema, record, encoded),
                )
            )
    print(f"lead: {len(framed['single-object'])} bytes in single-object encoding")
    for label, micros in per_record_us(rows).items():
        print(f"{label:48} {micros:7.1f} µs")


if __name__ == "__main__":
    main()
