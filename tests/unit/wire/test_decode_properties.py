"""A publisher whose schema differs from ours, or who lies about it: decoding still ends well.

``test_wire_fuzz`` throws random bytes at the codec; these tests write well-formed Avro under a
writer schema that differs from ours in one field (another type, nullable, a collection) and send
it behind our own header, as a publisher with a stale or mistaken schema copy would. Whatever the
bytes, ``decode`` returns a lead that meets the contract or raises ``DecodeError`` with a reason
from its documented vocabulary, never quoting the lead's data: the message goes to logs and
dead-letter headers.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from io import BytesIO
from typing import Any, get_args

from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.wire import Codec, DecodeError, DecodeReason, InvalidLead, load_schemas
from processor.wire.framing import single_object_header

TOPIC = "leads.submitted"
OURS = load_schemas()["LeadSubmitted"]
HEADER = single_object_header(OURS.fingerprint)
SECRET = "secret-7Q2x"
"""Personal data in the lead, which no error message may quote."""

REASONS = set(get_args(DecodeReason))

BASE: dict[str, Any] = {
    "lead_id": "lead-1",
    "submitted_at": 1714566615123,
    "site_id": "acme-site",
    "interest_category": None,
    "offer_id": None,
    "contact": {"first_name": SECRET, "last_name": None, "email": SECRET, "phone": None},
    "address": None,
    "visitor": None,
    "vehicle": None,
    "fields": {"note": SECRET},
    "comments": SECRET,
}

TYPES: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "null": ("null", st.none()),
    "boolean": ("boolean", st.booleans()),
    "int": ("int", st.integers(-(2**31), 2**31 - 1)),
    "long": ("long", st.integers(-(2**63), 2**63 - 1)),
    "float": ("float", st.floats(width=32)),
    "double": ("double", st.floats()),
    "bytes": ("bytes", st.binary(max_size=20)),
    "string": ("string", st.text(max_size=20)),
    "nullable string": (["null", "string"], st.none() | st.text(max_size=20)),
    "string or long": (["string", "long"], st.text(max_size=5) | st.integers(-(2**63), 2**63 - 1)),
    "array": ({"type": "array", "items": "string"}, st.lists(st.text(max_size=5), max_size=3)),
    "map": (
        {"type": "map", "values": "long"},
        st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1)),
    ),
}
FIELDS = [field["name"] for field in json.loads(OURS.text)["fields"]]


@st.composite
def lying_records(draw: st.DrawFn) -> bytes:
    """Our header, then a body written under our schema with one field's type changed."""
    schema = json.loads(OURS.text)
    record = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(FIELDS))
        kind, values = TYPES[draw(st.sampled_from(sorted(TYPES)))]
        field = next(f for f in schema["fields"] if f["name"] == name)
        field["type"] = kind
        field.pop("default", None)
        record[name] = draw(values)
    body = BytesIO()
    schemaless_writer(body, parse_schema(schema), record)
    return HEADER + body.getvalue()


def decodes_to_a_lead_or_refuses(data: bytes) -> None:
    try:
        lead = Codec().decode(TOPIC, data)
    except DecodeError as error:
        assert error.reason in REASONS, error.reason
        assert SECRET not in str(error), str(error)
        if isinstance(error, InvalidLead):
            assert error.field in ("lead_id", "site_id", "submitted_at")
        assert error.lead_id is None or error.lead_id.strip()
        return
    assert lead["lead_id"].strip() and lead["site_id"].strip()
    assert isinstance(lead["submitted_at"], datetime)


@settings(max_examples=300, deadline=None)
@given(lying_records())
def test_a_body_written_under_another_schema_decodes_to_a_lead_or_is_refused(data: bytes) -> None:
    decodes_to_a_lead_or_refuses(data)


def _zigzag(value: int) -> bytes:
    """An Avro long (zig-zag, then 7 bits a byte), as fastavro writes it."""
    out = BytesIO()
    schemaless_writer(out, "long", value)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1))
def test_any_submitted_at_is_a_datetime_or_an_invalid_lead_with_its_id(millis: int) -> None:
    body = b"\x0clead-1" + _zigzag(millis) + b"\x02s" + bytes(8)
    try:
        lead = Codec().decode(TOPIC, HEADER + body)
    except InvalidLead as error:
        assert (error.field, error.lead_id) == ("submitted_at", "lead-1")
    else:
        assert isinstance(lead["submitted_at"], datetime)
        assert round(lead["submitted_at"].timestamp() * 1000) == millis
