"""ADF 1.0: valid against the project's schema for every lead, escaped, and faithful to the lead."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from importlib.resources import files
from typing import Any

import pytest
import xmlschema
from formatkit import FACTS, FULL
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.formats import Facts, render
from processor.formats.adf_xml import PROLOGUE


@pytest.fixture(scope="module")
def adf_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(files("processor.formats") / "adf.xsd"))


def adf(lead: dict[str, Any], facts: Facts) -> str:
    rendered = render("adf_xml", lead, facts)
    assert rendered.content_type == "application/xml; charset=utf-8"
    return rendered.payload


def valid(document: str, schema: xmlschema.XMLSchema) -> ET.Element:
    """The document's root, after checking it is well-formed, starts as ADF says, and validates."""
    assert document.startswith(PROLOGUE)
    root = ET.fromstring(document.encode("utf-8"))  # well-formed, with its declaration
    schema.validate(document.encode("utf-8"))
    return root


def text(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    return None if element is None else (element.text or "")


def test_a_full_lead_carries_every_part(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    root = valid(adf(full, facts), adf_schema)
    prospect = root.find("prospect")
    assert prospect is not None and prospect.get("status") == "new"
    ids = prospect.findall("id")
    assert [(i.text, i.get("source")) for i in ids] == [
        ("web-0001", "acme-site"),
        (facts.delivery_id, "lead-router"),
    ]
    assert text(prospect, "requestdate") == "2026-11-20T10:00:05.123Z"
    vehicle = prospect.find("vehicle")
    assert vehicle is not None
    assert (vehicle.get("interest"), vehicle.get("status")) == ("buy", "new")
    assert [(child.tag, child.text) for child in vehicle] == [
        ("year", "2024"),
        ("make", "Toyota"),
        ("model", "Camry"),
        ("vin", "4T1K61AK0RU000000"),
        ("stock", "S1234"),
        ("trim", "XSE"),
    ]
    contact = prospect.find("customer/contact")
    assert contact is not None and contact.get("primarycontact") == "1"
    names = [(n.get("part"), n.text) for n in contact.findall("name")]
    assert names == [("first", "Ada"), ("last", "Lovelace")]
    assert text(contact, "email") == "ada@example.com"
    assert text(contact, "phone") == "+15551234567"
    assert [(c.tag, c.text) for c in contact.find("address") or []] == [
        ("street", "1 Main St"),
        ("city", "Los Angeles"),
        ("regioncode", "CA"),
        ("postalcode", "90012"),
        ("country", "US"),
    ]
    assert text(prospect, "customer/comments") == "Call after 5pm.\nWeekdays only."
    assert text(prospect, "vendor/vendorname") == "East CRM"
    assert text(prospect, "provider/name") == "acme-site"
    assert text(prospect, "provider/service") == "spring-sale"


def test_a_lead_without_optional_parts_is_still_valid_adf(
    minimal: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    root = valid(adf(minimal, facts), adf_schema)
    # ADF requires a vehicle with year, make and model, and a contact with a name and an email or
    # phone: present and empty. Optional parts are left out.
    assert [(c.tag, c.text) for c in root.find("prospect/vehicle") or []] == [
        ("year", None),
        ("make", None),
        ("model", None),
    ]
    contact = root.find("prospect/customer/contact")
    assert contact is not None
    assert [c.tag for c in contact] == ["name", "email"]
    assert root.find("prospect/customer/comments") is None
    assert root.find("prospect/provider/service") is None


def test_no_address_and_no_vehicle_leave_the_rest_alone(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    full["address"] = None
    full["vehicle"] = None
    root = valid(adf(full, facts), adf_schema)
    assert root.find("prospect/customer/contact/address") is None
    assert text(root, "prospect/customer/contact/email") == "ada@example.com"
    assert text(root, "prospect/vehicle/make") == ""


@pytest.mark.parametrize(
    ("contact", "tags"),
    [
        ({"first_name": None, "last_name": None, "email": None, "phone": "555"}, ["name", "phone"]),
        ({"first_name": "Jo", "last_name": None, "email": "j@x", "phone": None}, ["name", "email"]),
        (
            {"first_name": None, "last_name": "Li", "email": "l@x", "phone": "5"},
            ["name", "email", "phone"],
        ),
    ],
)
def test_contacts_with_some_parts(
    full: dict[str, Any],
    facts: Facts,
    adf_schema: xmlschema.XMLSchema,
    contact: dict[str, Any],
    tags: list[str],
) -> None:
    full["contact"] = contact
    full["address"] = None
    root = valid(adf(full, facts), adf_schema)
    assert [c.tag for c in root.find("prospect/customer/contact") or []] == tags


def test_an_address_without_a_street_gets_the_empty_street_adf_requires(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    full["address"] = {
        "street": None,
        "city": None,
        "state": "NY",
        "postcode": None,
        "country": None,
    }
    root = valid(adf(full, facts), adf_schema)
    address = root.find("prospect/customer/contact/address")
    assert [(c.tag, c.text) for c in address or []] == [("street", None), ("regioncode", "NY")]


def test_markup_and_non_ascii_are_escaped_and_come_back_unchanged(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    full["contact"]["first_name"] = "Zoë & <Chloé>"
    full["contact"]["last_name"] = 'O\'Brien "Müller" 李'
    full["comments"] = "]]> <![CDATA[ &amp; 🚗"
    full["site_id"] = 'site "a" & <b>'
    facts = Facts(**{**_fields(facts), "partner_name": "Smith & Sons <Autos>"})
    document = adf(full, facts)
    assert "Zoë &amp; &lt;Chloé&gt;" in document
    root = valid(document, adf_schema)
    names = [n.text for n in root.findall("prospect/customer/contact/name")]
    assert names == ["Zoë & <Chloé>", 'O\'Brien "Müller" 李']
    assert text(root, "prospect/customer/comments") == "]]> <![CDATA[ &amp; 🚗"
    assert root.find("prospect/id").get("source") == 'site "a" & <b>'
    assert text(root, "prospect/vendor/vendorname") == "Smith & Sons <Autos>"


def test_characters_xml_cannot_carry_are_replaced(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema
) -> None:
    full["comments"] = "bell\x07 nul\x00 tab\t crlf\r\n ok \ufffe"
    root = valid(adf(full, facts), adf_schema)
    assert text(root, "prospect/customer/comments") == (
        "bell\ufffd nul\ufffd tab\t crlf\r\n ok \ufffd"
    )


@pytest.mark.parametrize(
    ("category", "condition", "interest", "status"),
    [
        ("New Models", "new", "buy", "new"),
        ("Used Vehicles", None, "buy", "used"),
        ("New Models", "Certified Pre-Owned", "buy", "used"),
        ("Used Vehicles", "new", "buy", "new"),  # the vehicle's own condition wins
        ("Lease Specials", None, "lease", "new"),
        ("Trade-In Appraisal", "used", "trade-in", "used"),
        ("Test Drive", None, "test-drive", "new"),
        ("Service", None, "buy", "new"),
        (None, None, "buy", "new"),
    ],
)
def test_vehicle_interest_and_status(
    full: dict[str, Any],
    facts: Facts,
    category: str | None,
    condition: str | None,
    interest: str,
    status: str,
) -> None:
    full["interest_category"] = category
    full["vehicle"]["condition"] = condition
    vehicle = ET.fromstring(adf(full, facts)).find("prospect/vehicle")
    assert vehicle is not None
    assert (vehicle.get("interest"), vehicle.get("status")) == (interest, status)


@pytest.mark.parametrize("year", [99, 12345, -2024])
def test_a_year_adf_cannot_carry_is_left_empty(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema, year: int
) -> None:
    full["vehicle"]["year"] = year
    assert text(valid(adf(full, facts), adf_schema), "prospect/vehicle/year") == ""


def _break_make(root: ET.Element) -> None:
    vehicle = root.find("prospect/vehicle")
    assert vehicle is not None
    vehicle.remove(vehicle.find("make"))


@pytest.mark.parametrize(
    "damage",
    [
        _break_make,
        lambda root: root.find("prospect/vehicle").set("status", "broken"),
        lambda root: setattr(root.find("prospect/requestdate"), "text", "soon"),
        lambda root: root.find("prospect").remove(root.find("prospect/vendor")),
    ],
    ids=["vehicle without make", "unknown vehicle status", "date not a date", "no vendor"],
)
def test_the_schema_refuses_what_adf_does_not_allow(
    full: dict[str, Any], facts: Facts, adf_schema: xmlschema.XMLSchema, damage: Any
) -> None:
    root = ET.fromstring(adf(full, facts))
    assert adf_schema.is_valid(ET.tostring(root))
    damage(root)
    assert not adf_schema.is_valid(ET.tostring(root))


_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=80, deadline=None)
@given(first=_text, last=_text, comments=_text, city=_text, make=_text, site=_text, vendor=_text)
def test_any_text_makes_a_valid_document_that_reads_back(
    adf_schema: xmlschema.XMLSchema,
    first: str,
    last: str,
    comments: str,
    city: str,
    make: str,
    site: str,
    vendor: str,
) -> None:
    lead = copy.deepcopy(FULL)
    lead["contact"].update(first_name=first, last_name=last)
    lead["address"]["city"] = city
    lead["vehicle"]["make"] = make
    lead["comments"] = comments
    lead["site_id"] = site
    facts = Facts(**{**_fields(FACTS), "partner_name": vendor or None})
    root = valid(adf(lead, facts), adf_schema)
    assert root.find("prospect/id").get("source") == readable(site)
    assert text(root, "prospect/vendor/vendorname") == readable(vendor or FACTS.partner)
    names = [n.text or "" for n in root.findall("prospect/customer/contact/name")]
    expected = [readable(name) for name in (first, last) if name]
    assert names == (expected or [""])
    assert text(root, "prospect/customer/comments") == (readable(comments) if comments else None)
    assert text(root, "prospect/vehicle/make") == readable(make)
    if city:
        assert text(root, "prospect/customer/contact/address/city") == readable(city)


def readable(value: str) -> str:
    """What an XML reader gets back for ``value``: characters XML cannot carry replaced."""
    return "".join(c if _xml_char(c) else "\ufffd" for c in value)


def _xml_char(c: str) -> bool:
    code = ord(c)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _fields(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__slots__}
