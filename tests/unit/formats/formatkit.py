"""Leads with and without their optional parts, and the routing facts of one delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processor.formats import Facts

SUBMITTED_AT = datetime(2026, 11, 20, 10, 0, 5, 123000, tzinfo=UTC)

FULL: dict[str, Any] = {
    "lead_id": "web-0001",
    "submitted_at": SUBMITTED_AT,
    "site_id": "acme-site",
    "interest_category": "New Models",
    "offer_id": "spring-sale",
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
    "vehicle": {
        "year": 2024,
        "make": "Toyota",
        "model": "Camry",
        "trim": "XSE",
        "vin": "4T1K61AK0RU000000",
        "stock": "S1234",
        "condition": "new",
    },
    "fields": {"budget": 120000, "trade_in": True, "ssn": "enc:v1:Zm9vYmFy=="},
    "comments": "Call after 5pm.\nWeekdays only.",
}

MINIMAL: dict[str, Any] = {
    "lead_id": "web-0002",
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


FACTS = Facts(
    delivery_id="0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    partner="crm-east",
    partner_name="East CRM",
    profile="acme",
    assignment="new-east",
    tier="category",
    price=40.0,
    currency="USD",
    rules_version="7",
    routed_at=datetime(2026, 11, 20, 10, 0, 6, tzinfo=UTC),
    distance_km=12.5,
)
