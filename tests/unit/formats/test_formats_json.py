"""JSON: the contract's JSON lead, custom fields untouched, and the routing facts."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from processor.formats import Facts, render
from processor.wire import lead_to_json


def rendered(lead: dict[str, Any], facts: Facts) -> tuple[str, dict[str, Any]]:
    payload, content_type = render("json", lead, facts)
    assert content_type == "application/json"
    return payload, json.loads(payload, parse_constant=_refuse)


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_the_lead_and_the_routing_facts(full: dict[str, Any], facts: Facts) -> None:
    _, document = rendered(full, facts)
    assert document["delivery_id"] == facts.delivery_id
    assert document["lead"] == json.loads(json.dumps(lead_to_json(full)))
    assert document["lead"]["submitted_at"] == "2026-11-20T10:00:05.123Z"
    assert document["routing"] == {
        "partner": "crm-east",
        "partner_name": "East CRM",
        "profile": "acme",
        "assignment": "new-east",
        "tier": "category",
        "price": 40.0,
        "currency": "USD",
        "distance_km": 12.5,
        "rules_version": "7",
        "routed_at": "2026-11-20T10:00:06.000Z",
    }


def test_custom_fields_pass_through_untouched_encrypted_ones_included(
    full: dict[str, Any], facts: Facts
) -> None:
    _, document = rendered(full, facts)
    assert document["lead"]["fields"] == {
        "budget": 120000,
        "trade_in": True,
        "ssn": "enc:v1:Zm9vYmFy==",
    }


def test_a_lead_without_optional_parts(minimal: dict[str, Any], facts: Facts) -> None:
    _, document = rendered(minimal, facts)
    lead = document["lead"]
    assert lead["lead_id"] == "web-0002"
    for part in ("contact", "address", "visitor", "vehicle", "fields", "comments"):
        assert lead[part] is None


def test_a_fallback_delivery_has_no_assignment(minimal: dict[str, Any], facts: Facts) -> None:
    fallback = Facts(**{**_fields(facts), "assignment": None, "tier": "fallback"})
    _, document = rendered(minimal, fallback)
    assert (document["routing"]["assignment"], document["routing"]["tier"]) == (None, "fallback")


def test_markup_and_non_ascii_are_written_as_they_are(full: dict[str, Any], facts: Facts) -> None:
    full["contact"]["first_name"] = 'Zoë & <Chloé> "李"'
    payload, document = rendered(full, facts)
    assert "Zoë & <Chloé>" in payload  # UTF-8 text, not \\u escapes
    assert document["lead"]["contact"]["first_name"] == 'Zoë & <Chloé> "李"'


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_carry_become_null(
    full: dict[str, Any], facts: Facts, number: float
) -> None:
    full["fields"]["ratio"] = number
    full["visitor"]["lat"] = number
    _, document = rendered(full, facts)
    assert document["lead"]["fields"]["ratio"] is None
    assert document["lead"]["visitor"]["lat"] is None
    assert document["lead"]["fields"]["budget"] == 120000


def _fields(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__slots__}
