"""Records of every schema, as the processor writes them, and codecs that read and write them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from processor.wire import Codec, SchemaName

SUBMITTED_AT = datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
ROUTED_AT = datetime(2024, 5, 1, 12, 30, 16, 7000, tzinfo=UTC)

GEO: dict[str, Any] = {
    "lat": 34.0522,
    "lon": -118.2437,
    "source": "ip",
    "country": "US",
    "region": "CA",
    "city": "Los Angeles",
    "postcode": "90012",
    "accuracy_km": 20.0,
}

LEAD: dict[str, Any] = {
    "lead_id": "lead-0001",
    "submitted_at": SUBMITTED_AT,
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
    "visitor": {
        "ip": "203.0.113.7",
        "lat": 34.05,
        "lon": -118.24,
        "user_agent": "Mozilla/5.0",
    },
    "vehicle": {
        "year": 2024,
        "make": "Toyota",
        "model": "Camry",
        "trim": "XSE",
        "vin": "4T1K61AK0RU000000",
        "stock": "S1234",
        "condition": "new",
    },
    "fields": {"budget": 120000, "ratio": 0.25, "trade_in": True, "lead_type": "web", "note": None},
    "comments": "Call after 5pm",
}

MINIMAL_LEAD: dict[str, Any] = {
    "lead_id": "lead-0002",
    "submitted_at": SUBMITTED_AT,
    "site_id": "acme-site",
    "interest_category": None,
    "offer_id": None,
    "contact": None,
    "address": None,
    "visitor": None,
    "vehicle": None,
    "fields": None,
    "comments": None,
}

DELIVERY: dict[str, Any] = {
    "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    "lead_id": "lead-0001",
    "profile": "acme",
    "partner": "crm-east",
    "partner_name": "East CRM",
    "assignment": "svc-ca",
    "tier": "category",
    "price": 40.0,
    "currency": "USD",
    "distance_km": 12.5,
    "format": "adf_xml",
    "destinations": ["mailto:leads@east.example", "https://crm.example/hook"],
    "rules_version": "7",
    "routed_at": ROUTED_AT,
    "geo": GEO,
    "lead": LEAD,
    "payload": '{"delivery_id":"0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a","lead":{}}',
    "content_type": "application/json",
}

DECISION: dict[str, Any] = {
    "lead_id": "lead-0001",
    "site_id": "acme-site",
    "outcome": "routed",
    "duplicate_of": None,
    "profile": "acme",
    "tier": "category",
    "deliveries": [
        {
            "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
            "partner": "crm-east",
            "assignment": "svc-ca",
            "price": 40.0,
            "currency": "USD",
            "distance_km": None,
        }
    ],
    "geo": GEO,
    "trace": '[{"assignment":"svc-ca","matched":true}]',
    "error": None,
    "rules_version": "7",
    "source": {"topic": "leads.submitted", "partition": 3, "offset": 4711},
    "decided_at": ROUTED_AT,
    "sequence": 812,
    "lead": None,
    "attempt": 2,
    "reoffer_of": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
}

RECEIPT: dict[str, Any] = {
    "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    "lead_id": "lead-0001",
    "partner": "crm-east",
    "status": "delivered",
    "at": ROUTED_AT,
    "detail": "https://crm.example/hook: HTTP 200",
    "price": 40.0,
    "currency": "USD",
    "attempts": 1,
    "next_attempt_at": None,
    "revenue": 40.0,
    "reason": None,
}

MATCHED: dict[str, Any] = {
    "lead": b"\x12lead-0001",
    "geo": GEO,
    "notes": ["visitor ip not looked up: no IP database configured"],
    "locations": [{"source": "postcode", "geo": GEO}, {"source": "ip", "geo": None}],
    "source": {"topic": "leads.submitted", "partition": 3, "offset": 4711},
    "key": b"lead-0001",
    "headers": [{"name": "traceparent", "value": b"00-01"}, {"name": "empty", "value": None}],
    "rules_version": "7",
    "matches": {"category": [0, 4], "all": [9]},
    "reoffer": {
        "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
        "partner": "crm-east",
        "attempts": 6,
        "reason": "exhausted: https://crm.example/hook: HTTP 503",
    },
    "returned": None,
}

RETURN = {
    "delivery_id": "89e9cc68-f2b4-5c9d-a3c3-74b24d8d5676",
    "reason": "wrong number",
    "at": datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC),
    "by": "crm-east",
}

RECORDS: dict[SchemaName, dict[str, Any]] = {
    "LeadSubmitted": LEAD,
    "LeadDelivery": DELIVERY,
    "RoutingDecision": DECISION,
    "Geo": GEO,
    "DeliveryReceipt": RECEIPT,
    "LeadMatched": MATCHED,
    "DeliveryReturn": RETURN,
}


@pytest.fixture(scope="session")
def records() -> Mapping[SchemaName, Mapping[str, Any]]:
    """One record of each schema; shared, so a test that changes one copies it first."""
    return RECORDS


@pytest.fixture
def lead() -> dict[str, Any]:
    """A lead with every field set, the test's own copy."""
    return copy.deepcopy(LEAD)


@pytest.fixture
def minimal_lead() -> dict[str, Any]:
    """A lead with only the required fields set, the test's own copy."""
    return copy.deepcopy(MINIMAL_LEAD)


@pytest.fixture
def registry() -> SchemaRegistryClient:
    """confluent-kafka's in-memory schema registry, empty for each test."""
    return SchemaRegistryClient.new_client({"url": "mock://wire-tests"})


@pytest.fixture
def registry_codec(registry: SchemaRegistryClient) -> Codec:
    """A codec writing registry framing through the in-memory registry."""
    return Codec(registry_client=registry)
