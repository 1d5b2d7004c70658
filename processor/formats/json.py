"""JSON: the lead as the contract writes it, and the routing facts of its delivery.

::

    {"delivery_id": "...",
     "lead": {"lead_id": "...", "submitted_at": "2026-11-20T10:00:00.000Z", ..., "fields": {...}},
     "routing": {"partner": "crm-east", "partner_name": "East CRM", "profile": "acme",
                 "assignment": "svc-ca", "tier": "category", "price": 40.0, "currency": "USD",
                 "distance_km": null, "rules_version": "7", "routed_at": "..."}}

The lead's custom fields are carried as they are, those the rules declare encrypted included: the
partner holds the key. JSON has no NaN or infinity, so such numbers (possible in Avro doubles) are
written as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.formats.model import Facts, Format
from processor.jsontext import dumps
from processor.wire.lead_json import format_timestamp, lead_to_json


def render(lead: Mapping[str, Any], facts: Facts) -> str:
    document = {
        "delivery_id": facts.delivery_id,
        "lead": lead_to_json(lead),
        "routing": {
            "partner": facts.partner,
            "partner_name": facts.partner_name,
            "profile": facts.profile,
            "assignment": facts.assignment,
            "tier": facts.tier,
            "price": facts.price,
            "currency": facts.currency,
            "distance_km": facts.distance_km,
            "rules_version": facts.rules_version,
            "routed_at": format_timestamp(facts.routed_at),
        },
    }
    return dumps(document)


FORMAT = Format("json", "application/json", "json", render)
