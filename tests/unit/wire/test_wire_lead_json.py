"""The contract's JSON lead and the Avro record: the same lead either way, errors naming fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.wire import Codec, InvalidLead, lead_from_json, lead_to_json, validate_lead

SUBMITTED_AT_TEXT = "2024-05-01T12:30:15.123Z"


@pytest.fixture
def json_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """The ``lead`` fixture as a JSON line carries it."""
    return json.loads(json.dumps({**lead, "submitted_at": SUBMITTED_AT_TEXT}))


def test_a_json_lead_becomes_the_record_the_stream_carries(
    json_lead: dict[str, Any], lead: dict[str, Any]
) -> None:
    assert lead_from_json(json_lead) == lead


def test_absent_fields_are_null(minimal_lead: dict[str, Any]) -> None:
    document = {"lead_id": "lead-0002", "site_id": "acme-site", "submitted_at": SUBMITTED_AT_TEXT}
    assert lead_from_json(document) == minimal_lead


def test_a_json_lead_decodes_from_avro_as_it_parses_from_json(json_lead: dict[str, Any]) -> None:
    record = lead_from_json(json_lead)
    for codec in (Codec(), Codec("mock://lead-json")):
        data = codec.encode("leads.submitted", "LeadSubmitted", record)
        assert codec.decode("leads.submitted", data) == record


def test_a_record_becomes_the_contract_json_and_back(
    json_lead: dict[str, Any], lead: dict[str, Any]
) -> None:
    document = lead_to_json(lead)
    assert document["submitted_at"] == SUBMITTED_AT_TEXT
    assert json.loads(json.dumps(document)) == json_lead
    assert lead_from_json(document) == lead


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:30:15.123Z", datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)),
        ("2024-05-01T14:30:15.123+02:00", datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)),
        ("2024-05-01T07:00:15-05:30", datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T00:30:00+00:00", datetime(2024, 5, 1, 0, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:15.123", datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)),
        ("2024-05-01T12:30:15.123999Z", datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-12-31T23:30:00-01:00", datetime(2025, 1, 1, 0, 30, tzinfo=UTC)),
    ],
)
def test_submitted_at_is_utc_to_the_millisecond(text: str, expected: datetime) -> None:
    document = {"lead_id": "x", "site_id": "acme-site", "submitted_at": text}
    submitted_at = lead_from_json(document)["submitted_at"]
    assert submitted_at == expected
    assert submitted_at.utcoffset().total_seconds() == 0


def test_custom_field_values_keep_their_json_types_through_avro(json_lead: dict[str, Any]) -> None:
    values = {
        "flag": True,
        "count": 3,
        "huge": 2**63 - 1,
        "ratio": 0.5,
        "whole": 2.0,
        "text": "web",
        "none": None,
    }
    types = [bool, int, int, float, float, str, type(None)]
    record = lead_from_json({**json_lead, "fields": values})
    assert [type(value) for value in record["fields"].values()] == types
    codec = Codec()
    decoded = codec.decode("t", codec.encode("t", "LeadSubmitted", record))
    assert decoded["fields"] == values
    assert [type(value) for value in decoded["fields"].values()] == types
    assert json.loads(json.dumps(lead_to_json(decoded)))["fields"] == values


def test_integer_coordinates_become_doubles(json_lead: dict[str, Any]) -> None:
    record = lead_from_json({**json_lead, "visitor": {"lat": 34, "lon": -118}})
    assert record["visitor"] == {"ip": None, "lat": 34.0, "lon": -118.0, "user_agent": None}
    assert isinstance(record["visitor"]["lat"], float)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"lead_id": None}, "lead_id", "must not be empty"),
        ({"lead_id": "  "}, "lead_id", "must not be empty"),
        ({"site_id": ""}, "site_id", "must not be empty"),
        ({"site_id": None}, "site_id", "must not be empty"),
        ({"submitted_at": None}, "submitted_at", "missing"),
        ({"submitted_at": "yesterday"}, "submitted_at", "expected an ISO-8601 timestamp"),
        ({"submitted_at": 1714566615123}, "submitted_at", "got an integer"),
        ({"contact": {"email": 42}}, "contact.email", "expected null or a string, got an integer"),
        ({"contact": {"fax": "555"}}, "contact.fax", "not a field of the lead"),
        ({"adress": {}}, "adress", "not a field of the lead"),
        ({"vehicle": {"year": "2024"}}, "vehicle.year", "got a string"),
        ({"vehicle": {"year": 2024.5}}, "vehicle.year", "got a number"),
        ({"vehicle": {"year": 2**31}}, "vehicle.year", "out of range"),
        ({"visitor": {"lat": True}}, "visitor.lat", "got a boolean"),
        ({"visitor": {"lat": 10**400}}, "visitor.lat", "out of range"),
        ({"address": ["1 Main St"]}, "address", "got an array"),
        ({"fields": {"tags": ["a"]}}, "fields.tags", "got an array"),
        ({"fields": {"nested": {"a": 1}}}, "fields.nested", "got an object"),
        ({"fields": {"big": 2**63}}, "fields.big", "out of range"),
        ({"fields": "budget=1"}, "fields", "got a string"),
    ],
)
def test_a_json_lead_that_breaks_the_contract_names_the_field(
    change: dict[str, Any], field: str, problem: str, json_lead: dict[str, Any]
) -> None:
    with pytest.raises(InvalidLead) as raised:
        lead_from_json({**json_lead, **change})
    assert raised.value.reason == "invalid-lead"
    assert raised.value.field == field
    assert problem in str(raised.value)


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidLead) as raised:
        lead_from_json({"lead_id": "x", "site_id": "acme-site"})
    assert str(raised.value) == "submitted_at: missing"
    assert raised.value.lead_id == "x"


def test_a_missing_site_id_is_refused_in_the_words_of_a_decoded_lead() -> None:
    with pytest.raises(InvalidLead) as raised:
        lead_from_json({"lead_id": "x", "submitted_at": "2026-11-20T10:00:00Z"})
    assert str(raised.value) == "site_id: must not be empty"
    assert raised.value.lead_id == "x"


def test_a_json_value_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidLead) as raised:
        lead_from_json(["lead-0001"])
    assert (raised.value.field, raised.value.lead_id) == ("lead", None)


def test_messages_never_quote_the_lead_values(json_lead: dict[str, Any]) -> None:
    with pytest.raises(InvalidLead) as raised:
        lead_from_json({**json_lead, "contact": {"email": ["ada@example.com"]}})
    assert "ada@example.com" not in str(raised.value)


def test_an_integer_submitted_at_from_avro_becomes_a_datetime(
    minimal_lead: dict[str, Any],
) -> None:
    record = {**minimal_lead, "submitted_at": 1714566615123}
    assert validate_lead(record)["submitted_at"] == datetime(
        2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC
    )


def test_an_integer_submitted_at_beyond_the_calendar_is_invalid(
    minimal_lead: dict[str, Any],
) -> None:
    with pytest.raises(InvalidLead) as raised:
        validate_lead({**minimal_lead, "submitted_at": 2**62})
    assert raised.value.field == "submitted_at"


_text = st.text(max_size=20)
_optional_text = st.none() | _text
_custom_value = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | _text
)
_json_leads = st.fixed_dictionaries(
    {
        "lead_id": _text.filter(str.strip),
        "site_id": _text.filter(str.strip),
        "submitted_at": st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [
                    None,
                    UTC,
                    timezone(timedelta(hours=5, minutes=45)),
                    timezone(-timedelta(hours=9, minutes=30)),
                ]
            ),
        ).map(datetime.isoformat),
    },
    optional={
        "interest_category": _optional_text,
        "contact": st.none()
        | st.fixed_dictionaries({}, optional={"email": _optional_text, "phone": _optional_text}),
        "visitor": st.none()
        | st.fixed_dictionaries(
            {}, optional={"lat": st.none() | st.floats(-90, 90), "ip": _optional_text}
        ),
        "vehicle": st.none()
        | st.fixed_dictionaries(
            {}, optional={"year": st.none() | st.integers(-(2**31), 2**31 - 1)}
        ),
        "fields": st.none() | st.dictionaries(_text, _custom_value, max_size=5),
        "comments": _optional_text,
    },
)


@given(_json_leads)
def test_any_valid_json_lead_survives_avro_and_json_unchanged(document: dict[str, Any]) -> None:
    record = lead_from_json(document)
    codec = Codec()
    decoded = codec.decode("t", codec.encode("t", "LeadSubmitted", record))
    assert decoded == record
    assert lead_from_json(json.loads(json.dumps(lead_to_json(decoded)))) == record
