"""What a viewer sees of a person: each masker on ordinary, empty, hostile and unicode input."""

from __future__ import annotations

import json

import pytest

from processor.console.web.masking import (
    HIDDEN,
    MAX_CHARS,
    mask_email,
    mask_field,
    mask_ip,
    mask_phone,
    mask_text,
    masked_geo,
    masked_lead,
    masked_trace,
)

LEAD = {
    "lead_id": "L-1",
    "submitted_at": "2026-11-30T10:00:00Z",
    "site_id": "acme-site",
    "interest_category": "Service",
    "contact": {
        "first_name": "Ana",
        "last_name": "Lima",
        "email": "ana.lima@mail.example",
        "phone": "+1 415 555 0100",
    },
    "address": {"street": "1 Main St", "city": "Boston", "state": "MA", "postcode": "02108"},
    "visitor": {"ip": "203.0.113.9", "lat": 42.36012, "lon": -71.05891, "user_agent": "Mozilla"},
    "vehicle": {"year": 2024, "make": "Volvo", "vin": "YV1A22MK9H1013946"},
    "fields": {"budget": 30000, "spouse_name": "Bea", "home_phone": "617 555 0199"},
    "comments": "Call me after 6pm at my office",
}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a@b.example", "a***@b.example"),
        ("Ana.Lima@Mail.example", "A***@Mail.example"),
        ("not an address", "n***"),
        ("@b.example", "@***"),
        ("ünïcode@b.example", "ü***@b.example"),
        ("", ""),
        (None, ""),
        (12, "1***"),
        (["a@b.example"], HIDDEN),
    ],
)
def test_mask_email(value: object, shown: str) -> None:
    assert mask_email(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+1 415 555 0100", "•••• 0100"),
        ("(617) 555-0199", "•••• 0199"),
        ("4155550100", "•••• 0100"),
        ("12", "••••"),
        ("call me", ""),
        ("٤١٥٥٥٥٠١٠٠", ""),  # Arabic-Indic digits are not dialled here: nothing of them shown
        (None, ""),
        (4155550100, "•••• 0100"),
    ],
)
def test_mask_phone(value: object, shown: str) -> None:
    assert mask_phone(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("203.0.113.9", "203.0.113.x"),
        (" 198.51.100.255 ", "198.51.100.x"),
        ("2001:0db8:0001:0000:0000:0000:0000:0001", "2001:db8:1::x"),
        ("2001:db8::1", "2001:db8:0::x"),
        ("::ffff:203.0.113.9", "0:0:0::x"),
        ("999.1.1.1", HIDDEN),
        ("<script>", HIDDEN),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_ip(value: object, shown: str) -> None:
    assert mask_ip(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Ana", "A***"),
        ("  ana  ", "a***"),
        ("Łukasz", "Ł***"),
        ("😀 smile", "😀***"),
        ("", ""),
        ("   ", ""),
        (None, ""),
        (True, ""),
        ({"a": 1}, HIDDEN),
    ],
)
def test_mask_text(value: object, shown: str) -> None:
    assert mask_text(value) == shown


def test_a_huge_value_is_cut_before_it_is_looked_at() -> None:
    huge = "x" * 10_000_000
    assert mask_email(huge + "@b.example") == "x***"  # the domain lies past what is read
    assert mask_phone("1" * 10_000_000) == "•••• 1111"
    assert mask_ip(huge) == HIDDEN
    assert len(mask_email("a@" + huge)) <= MAX_CHARS + len(HIDDEN)


def test_a_viewer_sees_no_contact_detail_of_the_lead() -> None:
    shown = masked_lead(LEAD, sees=False)
    text = json.dumps(shown, ensure_ascii=False)
    for secret in (
        "Lima",
        "ana.lima",
        "555 0100",
        "1 Main St",
        "203.0.113.9",
        "Mozilla",
        "YV1A22MK9H1013946",
        "after 6pm",
        "Bea",
        "617 555",
        "42.36012",
    ):
        assert secret not in text, secret
    assert shown["contact"] == {
        "first_name": "A***",
        "last_name": "L***",
        "email": "a***@mail.example",
        "phone": "•••• 0100",
    }
    assert shown["visitor"]["ip"] == "203.0.113.x"
    assert (shown["visitor"]["lat"], shown["visitor"]["lon"]) == (42.4, -71.1)
    # What routing reads and names no one stays.
    assert shown["address"]["city"] == "Boston"
    assert shown["fields"]["budget"] == 30000
    assert shown["vehicle"]["make"] == "Volvo"
    assert shown["lead_id"] == "L-1"


def test_an_editor_sees_the_lead_as_published() -> None:
    assert masked_lead(LEAD, sees=True) == LEAD


def test_a_hostile_lead_is_hidden_where_its_shape_is_wrong() -> None:
    shown = masked_lead(
        {"contact": "Ana Lima <ana@b.example>", "visitor": {"ip": ["203.0.113.9"]}, "x": {"a": 1}},
        sees=False,
    )
    assert shown == {"contact": HIDDEN, "visitor": {"ip": HIDDEN}, "x": HIDDEN}


def test_custom_fields_are_masked_by_how_their_names_look() -> None:
    assert mask_field("fields.work_email", "a@b.example") == "a***"
    assert mask_field("client_ip", "203.0.113.9") == "2***"
    assert mask_field("fields.budget", 30000) == 30000
    assert mask_field("shipping", "ground") == "ground"


def test_geo_for_a_viewer_is_a_region() -> None:
    geo = {"lat": 40.75801, "lon": -73.98551, "country": "US", "region": "NY", "city": "New York"}
    assert masked_geo(geo, sees=False) == {
        "country": "US",
        "region": "NY",
        "lat": 40.8,
        "lon": -74.0,
        "source": None,
    }
    assert masked_geo(geo, sees=True) == geo
    assert masked_geo(None, sees=False) is None
    assert masked_geo({"lat": "north", "lon": 1e300}, sees=False)["lat"] is None  # type: ignore[index]


def test_a_trace_shows_a_viewer_no_value_of_a_personal_field() -> None:
    trace = [
        {"step": "profile", "profile": "acme"},
        {
            "step": "assignment",
            "assignment": "a1",
            "partner": "p",
            "matched": False,
            "failed": [
                {
                    "or_set": 0,
                    "field": "contact.email",
                    "op": "ends_with",
                    "actual": "ana@b.example",
                },
                {"or_set": 1, "field": "budget", "op": "gte", "value": 10, "actual": 5},
                {
                    "or_set": 2,
                    "field": "geo",
                    "op": "within_km",
                    "actual": {"lat": 40.75801, "lon": -73.98551, "distance_km": 3.2},
                },
                {
                    "or_set": 3,
                    "field": "site_id",
                    "op": "equals",
                    "actual": "x",
                    "variable_value": "Ana",
                },
            ],
        },
        "not an entry",
    ]
    shown = masked_trace(trace, sees=False)
    failed = shown[1]["failed"]  # type: ignore[index]
    assert failed[0]["actual"] == "a***@b.example"
    assert failed[1]["actual"] == 5
    assert failed[2]["actual"] == {"lat": 40.8, "lon": -74.0, "distance_km": 3.2}
    assert failed[3]["variable_value"] == "A***"
    assert shown[0] == trace[0] and shown[2] == "not an entry"
    assert masked_trace(trace, sees=True) == trace
