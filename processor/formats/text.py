"""Plain text: an email body a salesperson can read at a glance.

One labelled line per fact the lead has (nothing for what it lacks), the visitor's comments, the
custom fields, and last the routing facts, so the reader sees the person before the bookkeeping::

    New lead for East CRM

    Lead       web-0001 from acme-site (offer spring-service)
    Submitted  2026-11-20 10:00 UTC
    Interest   Service

    Name       Ada Lovelace
    Email      ada@example.com
    ...
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from processor.formats.model import Facts, Format

LABEL_WIDTH = 11


def render(lead: Mapping[str, Any], facts: Facts) -> str:
    sections = [
        [f"New lead for {facts.vendor}"],
        _lines(_about(lead)),
        _lines(_person(lead)),
        _lines(_vehicle(lead.get("vehicle") or {})),
        _block("Comments", [lead["comments"]] if lead.get("comments") else []),
        _block(
            "Other details",
            [
                f"{name}: {_value(v)}"
                for name, v in (lead.get("fields") or {}).items()
                if v is not None
            ],
        ),
        [_routing(facts)],
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def _about(lead: Mapping[str, Any]) -> tuple[tuple[str, object], ...]:
    source = f"{lead['lead_id']} from {lead['site_id']}"
    if lead.get("offer_id"):
        source += f" (offer {lead['offer_id']})"
    return (
        ("Lead", source),
        ("Submitted", _when(lead["submitted_at"])),
        ("Interest", lead.get("interest_category")),
    )


def _person(lead: Mapping[str, Any]) -> tuple[tuple[str, object], ...]:
    contact = lead.get("contact") or {}
    names = (contact.get("first_name"), contact.get("last_name"))
    address = lead.get("address") or {}
    region = " ".join(part for part in (address.get("state"), address.get("postcode")) if part)
    parts = (address.get("street"), address.get("city"), region, address.get("country"))
    return (
        ("Name", " ".join(name for name in names if name)),
        ("Email", contact.get("email")),
        ("Phone", contact.get("phone")),
        ("Address", ", ".join(part for part in parts if part)),
    )


def _vehicle(vehicle: Mapping[str, Any]) -> tuple[tuple[str, object], ...]:
    words = (vehicle.get("year"), vehicle.get("make"), vehicle.get("model"), vehicle.get("trim"))
    described = " ".join(str(word) for word in words if word)
    if vehicle.get("condition"):
        described = f"{described}, {vehicle['condition']}" if described else vehicle["condition"]
    return (
        ("Vehicle", described),
        ("VIN", vehicle.get("vin")),
        ("Stock", vehicle.get("stock")),
    )


def _lines(pairs: tuple[tuple[str, object], ...]) -> list[str]:
    """A line for each value there is, after its label."""
    return [f"{label:<{LABEL_WIDTH}}{value}" for label, value in pairs if value not in (None, "")]


def _block(title: str, lines: list[str]) -> list[str]:
    """A titled block of indented lines; nothing when there are none."""
    if not lines:
        return []
    return [f"{title}:", *(f"  {line}" for text in lines for line in text.splitlines() or [""])]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _when(moment: datetime) -> str:
    # Formatted by hand, as ``strftime`` wrote it (the year unpadded), at a fraction of its cost.
    at = moment.astimezone(UTC)
    return f"{at.year}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d} UTC"


def _routing(facts: Facts) -> str:
    by = f"assignment {facts.assignment}" if facts.assignment else f"{facts.tier} partner"
    return (
        f"Price {facts.price:.2f} {facts.currency} ({by}, rules version {facts.rules_version}). "
        f"Delivery {facts.delivery_id}."
    )


FORMAT = Format("text", "text/plain; charset=utf-8", "txt", render)
