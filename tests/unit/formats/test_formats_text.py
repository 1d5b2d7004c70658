"""Plain text: what the lead has, labelled, nothing for what it lacks, nothing escaped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from processor.formats import Facts, render


def text(lead: dict[str, Any], facts: Facts) -> str:
    payload, content_type = render("text", lead, facts)
    assert content_type == "text/plain; charset=utf-8"
    return payload


def test_a_full_lead_reads_at_a_glance(full: dict[str, Any], facts: Facts) -> None:
    assert text(full, facts) == (
        "New lead for East CRM\n"
        "\n"
        "Lead       web-0001 from acme-site (offer spring-sale)\n"
        "Submitted  2026-11-20 10:00 UTC\n"
        "Interest   New Models\n"
        "\n"
        "Name       Ada Lovelace\n"
        "Email      ada@example.com\n"
        "Phone      +15551234567\n"
        "Address    1 Main St, Los Angeles, CA 90012, US\n"
        "\n"
        "Vehicle    2024 Toyota Camry XSE, new\n"
        "VIN        4T1K61AK0RU000000\n"
        "Stock      S1234\n"
        "\n"
        "Comments:\n"
        "  Call after 5pm.\n"
        "  Weekdays only.\n"
        "\n"
        "Other details:\n"
        "  budget: 120000\n"
        "  trade_in: yes\n"
        "  ssn: enc:v1:Zm9vYmFy==\n"
        "\n"
        "Price 40.00 USD (assignment new-east, rules version 7). "
        "Delivery 0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a.\n"
    )


def test_a_lead_without_optional_parts_has_no_empty_lines(
    minimal: dict[str, Any], facts: Facts
) -> None:
    assert text(minimal, facts) == (
        "New lead for East CRM\n"
        "\n"
        "Lead       web-0002 from acme-site\n"
        "Submitted  2026-11-20 10:00 UTC\n"
        "\n"
        "Price 40.00 USD (assignment new-east, rules version 7). "
        "Delivery 0b0f1a52-3c1e-5d0e-9b3a-1f2e3d4c5b6a.\n"
    )


def test_no_address_and_no_vehicle(full: dict[str, Any], facts: Facts) -> None:
    full["address"] = None
    full["vehicle"] = None
    body = text(full, facts)
    assert "Address" not in body
    assert "Vehicle" not in body and "VIN" not in body
    assert "Name       Ada Lovelace\n" in body


def test_partial_parts_show_what_there_is(full: dict[str, Any], facts: Facts) -> None:
    full["contact"] = {"first_name": None, "last_name": "Li", "email": None, "phone": "555"}
    full["address"] = {
        "street": None,
        "city": "Boston",
        "state": None,
        "postcode": None,
        "country": None,
    }
    full["vehicle"] = {
        "year": None,
        "make": None,
        "model": None,
        "trim": None,
        "vin": None,
        "stock": None,
        "condition": "used",
    }
    body = text(full, facts)
    assert "Name       Li\nPhone      555\nAddress    Boston\n" in body
    assert "Vehicle    used\n" in body


def test_markup_and_non_ascii_are_not_escaped(full: dict[str, Any], facts: Facts) -> None:
    full["contact"]["first_name"] = "Zoë & <Chloé>"
    full["contact"]["last_name"] = "Müller 李"
    fallback = Facts(**{**_fields(facts), "partner_name": "Smith & Sons", "assignment": None})
    body = text(full, fallback)
    assert body.startswith("New lead for Smith & Sons\n")
    assert "Name       Zoë & <Chloé> Müller 李\n" in body
    assert "(category partner, rules version 7)" in body


def _fields(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__slots__}


def test_the_submitted_time_is_written_in_utc_whatever_its_zone(
    full: dict[str, Any], facts: Facts
) -> None:
    full["submitted_at"] = datetime(999, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert "Submitted  999-03-05 04:30 UTC\n" in text(full, facts)
