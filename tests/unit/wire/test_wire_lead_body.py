"""``read_lead_body`` reads the lead a decided record carries as ``decode`` reads a lead.

It is read by the compiled reader, and by fastavro whenever that one is not sure of the bytes:
the value is fastavro's, and a bad body is refused for the same reason as the same body behind a
single-object header.
"""

from __future__ import annotations

import copy
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from conftest import LEAD
from fastavro import schemaless_reader
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_values import MOMENTS, values

from processor.wire import Codec, DecodeError, InvalidLead, load_schemas
from processor.wire.lead import validate_lead

CODEC = Codec()
SCHEMA = load_schemas()["LeadSubmitted"].parsed
BODY = CODEC.lead_body(LEAD)


def _outcome(read: Any, data: bytes) -> object:
    try:
        return read(data)
    except DecodeError as error:
        return error.reason


@settings(deadline=None)  # leads take a while to generate
@given(lead=values(SCHEMA), submitted_at=MOMENTS)
def test_any_lead_body_reads_back_as_fastavro_reads_it(
    lead: dict[str, Any], submitted_at: datetime
) -> None:
    body = CODEC.lead_body(lead | {"submitted_at": submitted_at})
    read = schemaless_reader(BytesIO(body), SCHEMA, None)
    assert isinstance(read, dict)
    try:
        expected: object = validate_lead(read)
    except InvalidLead as error:
        expected = str(error)
    try:
        found: object = CODEC.read_lead_body(body)
    except InvalidLead as error:
        found = str(error)
    assert found == expected


@given(cut=st.integers(0, 400), at=st.integers(0, 400), byte=st.integers(0, 255))
def test_a_changed_body_is_refused_for_the_reason_decode_gives(
    cut: int, at: int, byte: int
) -> None:
    changed = bytearray(BODY)
    changed[at % len(changed)] = byte
    body = bytes(changed[: len(changed) - cut % len(changed)])
    framed = CODEC.single_object("LeadSubmitted", body)
    decoded = _outcome(lambda data: CODEC.decode("leads", data), framed)
    assert _outcome(CODEC.read_lead_body, body) == decoded


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (BODY[:-3], "truncated", "the LeadSubmitted body ends before the record does"),
        (BODY + b"\x00", "invalid-avro", "bytes follow the LeadSubmitted body"),
        (CODEC.lead_body(LEAD | {"lead_id": " "}), "invalid-lead", "lead_id: must not be empty"),
    ],
)
def test_a_bad_body_is_refused_with_its_reason(body: bytes, reason: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        CODEC.read_lead_body(body)
    assert caught.value.reason == reason
    assert str(caught.value) == message


def test_a_lead_beyond_the_calendar_is_refused_as_an_invalid_lead() -> None:
    lead = copy.deepcopy(LEAD) | {"submitted_at": 2**62}
    with pytest.raises(InvalidLead, match="submitted_at: out of range") as caught:
        CODEC.read_lead_body(CODEC.lead_body(lead))
    assert caught.value.lead_id == LEAD["lead_id"]
