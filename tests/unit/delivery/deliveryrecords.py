"""A delivery record as the processor writes it, and the parcel a destination sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processor.delivery.parcel import Parcel

DELIVERY: dict[str, Any] = {
    "delivery_id": "0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    "lead_id": "web-0001",
    "profile": "acme",
    "partner": "crm-east",
    "partner_name": "East CRM",
    "assignment": "svc",
    "tier": "category",
    "price": 40.0,
    "currency": "USD",
    "distance_km": None,
    "format": "json",
    "destinations": ["https://crm.example/hook"],
    "rules_version": "7",
    "routed_at": datetime(2026, 11, 20, 10, 0, 6, tzinfo=UTC),
    "geo": None,
    "lead": {
        "lead_id": "web-0001",
        "submitted_at": datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC),
        "site_id": "acme-site",
    },
    "payload": '{"rendered": "by the processor"}',
    "content_type": "application/json",
}


PARCEL = Parcel(
    delivery_id="0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a",
    lead_id="web-0001",
    partner="crm-east",
    subject="New lead web-0001 for East CRM",
    payload="Zoë & <Chloé>\n",
    content_type="text/plain; charset=utf-8",
    extension="txt",
)
