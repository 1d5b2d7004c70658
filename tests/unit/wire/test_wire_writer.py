"""The compiled writer writes fastavro's bytes, or refuses, and then fastavro writes or says why.

Its promise: for every value fastavro writes under one of our schemas, the same bytes; for any
other value, a refusal the codec catches, so that ``encode`` behaves exactly as it did with
fastavro alone (the same bytes, or the same ``EncodeError`` text).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from conftest import LEAD, RECORDS
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_values import DOUBLES, LONGS, MOMENTS, values

from processor.wire import Codec, EncodeError, SchemaName, load_schemas
from processor.wire.writer import WRITE_ERRORS, Unwritable, Write, compile_writer

SCHEMAS = load_schemas()
NAMES: list[SchemaName] = sorted(SCHEMAS)
CODEC = Codec()
TOPIC = "lead-router.out"

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=4),
    st.just("\ud800"),
    st.binary(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.tuples(st.sampled_from(["string", "long", "null"]), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
    st.fixed_dictionaries({"-type": st.text(max_size=3)}),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    MOMENTS,
)
"""Values of every kind, most of them wrong for any one field: fastavro refuses some, accepts
others (a float for an int, a naive datetime, a tuple naming a union branch)."""


def _compiled(schema: Any) -> Write:
    write = compile_writer(schema)
    assert write is not None
    return write


def _fastavro(schema: Any, record: Any) -> bytes:
    sink = BytesIO()
    schemaless_writer(sink, schema, record)
    return sink.getvalue()


def _before(name: SchemaName, record: Any) -> bytes | str:
    """What ``encode`` gave when fastavro wrote every record: the framed bytes, or the error."""
    try:
        return CODEC.single_object(name, _fastavro(SCHEMAS[name].parsed, record))
    except Exception as error:
        return f"invalid-record: not a valid {name}: {type(error).__name__}: {error}"


def _now(name: SchemaName, record: Any) -> bytes | str:
    try:
        return CODEC.encode(TOPIC, name, record)
    except EncodeError as error:
        return f"{error.reason}: {error}"


WRITERS = {name: _compiled(SCHEMAS[name].parsed) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_compiles_and_writes_its_record_as_fastavro_does(name: SchemaName) -> None:
    out = bytearray()
    WRITERS[name](out, RECORDS[name])
    assert bytes(out) == _fastavro(SCHEMAS[name].parsed, RECORDS[name])


@settings(deadline=None)  # records of nested schemas take a while to generate
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_any_record_of_our_schemas_is_written_as_fastavro_writes_it(
    data: st.DataObject, name: SchemaName
) -> None:
    parsed = SCHEMAS[name].parsed
    record = data.draw(values(parsed))
    out = bytearray()
    WRITERS[name](out, record)
    assert bytes(out) == _fastavro(parsed, record)


@settings(deadline=None)  # records of nested schemas take a while to generate
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_a_misfit_record_is_encoded_or_refused_as_fastavro_alone_did(
    data: st.DataObject, name: SchemaName
) -> None:
    parsed: Any = SCHEMAS[name].parsed
    record = dict(data.draw(values(parsed)))
    field = data.draw(st.sampled_from([field["name"] for field in parsed["fields"]]))
    if data.draw(st.booleans()):
        record[field] = data.draw(HOSTILE)
    else:
        record.pop(field, None)
    assert _now(name, record) == _before(name, record)


@pytest.mark.parametrize(
    ("change", "written_by_fastavro"),
    [
        ({"lead_id": 7}, False),
        ({"contact": {"email": b"ada@example.com"}}, False),
        ({"vehicle": {"year": 2**40}}, False),  # beyond an int, so no branch of the union
        ({"fields": {1: "one"}}, False),
        ({"visitor": {"lat": "34.05"}}, False),
        ({"submitted_at": datetime(2024, 5, 1, 12, 30)}, True),  # naive: fastavro's local time
        ({"comments": ("string", "Call after 5pm")}, True),  # fastavro's tuple notation
        ({"contact": {"-type": "io.leadrouter.Contact", "email": "ada@example.com"}}, True),
        ({"contact": {"-type": "Other", "email": "ada@example.com"}}, False),
        ({"site_id": None}, False),
    ],
)
def test_values_the_compiled_writer_is_unsure_of_are_left_to_fastavro(
    change: dict[str, Any], written_by_fastavro: bool
) -> None:
    record = copy.deepcopy(LEAD) | change
    with pytest.raises((Unwritable, *WRITE_ERRORS)):
        WRITERS["LeadSubmitted"](bytearray(), record)
    before = _before("LeadSubmitted", record)
    assert isinstance(before, bytes) == written_by_fastavro
    assert _now("LeadSubmitted", record) == before


def test_a_missing_field_takes_its_default_and_a_nullable_one_none() -> None:
    decision: dict[str, Any] = {
        key: value
        for key, value in RECORDS["RoutingDecision"].items()
        if key not in ("attempt", "sequence", "lead")
    }
    out = bytearray()
    WRITERS["RoutingDecision"](out, decision)
    assert bytes(out) == _fastavro(SCHEMAS["RoutingDecision"].parsed, decision | {"attempt": 1})


def test_a_missing_required_field_is_refused_in_fastavros_words() -> None:
    lead = {key: value for key, value in LEAD.items() if key != "site_id"}
    with pytest.raises(EncodeError, match="no value and no default for site_id") as caught:
        CODEC.encode(TOPIC, "LeadSubmitted", lead)
    assert caught.value.reason == "invalid-record"


UNIONS: list[list[Any]] = [
    ["null", "boolean", "long", "double", "string"],
    ["double", "long", "null"],
    ["int", "long", "double"],
    ["long", "int"],
    ["string", {"type": "enum", "name": "Colour", "symbols": ["red", "green"]}],
    [{"type": "enum", "name": "Size", "symbols": ["small", "large"]}, "string", "bytes"],
    ["null", "long", {"type": "long", "logicalType": "timestamp-millis"}],
    [{"type": "long", "logicalType": "timestamp-millis"}, "double"],
    ["null", {"type": "array", "items": "long"}, "string"],
    [{"type": "array", "items": "long"}, {"type": "array", "items": "string"}],
    [{"type": "map", "values": "long"}, "string"],
    [{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}, "null"],
    [
        {"type": "map", "values": "string"},
        {"type": "record", "name": "S", "fields": [{"name": "a", "type": ["null", "string"]}]},
    ],
]
ANY_VALUE = st.one_of(
    HOSTILE,
    LONGS,
    DOUBLES,
    st.sampled_from(["red", "green", "small", "large"]),
    st.lists(LONGS, max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.none() | LONGS | st.text(max_size=2)),
)


@pytest.mark.parametrize("union", UNIONS, ids=str)
@settings(deadline=None)  # timing is not the point, and the machine may be busy
@given(value=ANY_VALUE)
def test_a_union_branch_is_the_one_fastavro_chooses(union: list[Any], value: Any) -> None:
    """Whatever the value, the compiled writer writes fastavro's bytes or leaves it to it."""
    schema = parse_schema({"type": "record", "name": "U", "fields": [{"name": "u", "type": union}]})
    out = bytearray()
    try:
        _compiled(schema)(out, {"u": value})
    except (Unwritable, *WRITE_ERRORS):
        return
    assert bytes(out) == _fastavro(schema, {"u": value})


@pytest.mark.parametrize(
    ("union", "value", "branch"),
    [
        (["null", "boolean", "long", "double", "string"], True, 1),
        (["null", "boolean", "long", "double", "string"], 5, 2),
        (["null", "boolean", "long", "double", "string"], 2**63, 3),
        (["null", "boolean", "long", "double", "string"], 0.5, 3),
        (["double", "long"], 5, 0),
        (["int", "long"], 2**31, 1),
        (["string", {"type": "enum", "name": "E", "symbols": ["red"]}], "red", 0),
        ([{"type": "enum", "name": "E", "symbols": ["red"]}, "string"], "red", 0),
        ([{"type": "enum", "name": "E", "symbols": ["red"]}, "string"], "blue", 1),
        (["long", {"type": "long", "logicalType": "timestamp-millis"}], datetime.now(UTC), 1),
    ],
)
def test_the_branch_chosen_is_written_first(union: list[Any], value: Any, branch: int) -> None:
    schema = parse_schema({"type": "record", "name": "U", "fields": [{"name": "u", "type": union}]})
    out = bytearray()
    _compiled(schema)(out, {"u": value})
    assert out[0] == 2 * branch
    assert bytes(out) == _fastavro(schema, {"u": value})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "fixed", "name": "F", "size": 4},
        "float",
        {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
        ["null", "float", "double"],
        {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "next", "type": ["null", "Node"]}],
        },
    ],
    ids=str,
)
def test_a_type_it_does_not_compile_is_left_to_fastavro(schema: Any) -> None:
    assert compile_writer(parse_schema(schema)) is None


@settings(deadline=None)  # a delivery and a lead take a while to generate
@given(data=st.data())
def test_a_delivery_with_its_lead_copied_is_the_delivery_fastavro_writes(
    data: st.DataObject,
) -> None:
    delivery = data.draw(values(SCHEMAS["LeadDelivery"].parsed))
    lead = data.draw(values(SCHEMAS["LeadSubmitted"].parsed))
    lead_body = CODEC.lead_body(lead)
    encoded = CODEC.encode(TOPIC, "LeadDelivery", delivery | {"lead": None}, {"lead": lead_body})
    whole = _fastavro(SCHEMAS["LeadDelivery"].parsed, delivery | {"lead": lead})
    assert encoded == CODEC.single_object("LeadDelivery", whole)


def test_the_encoder_writes_the_compiled_bytes_for_each_topic() -> None:
    record = RECORDS["RoutingDecision"]
    framed = CODEC.single_object(
        "RoutingDecision", _fastavro(SCHEMAS["RoutingDecision"].parsed, record)
    )
    assert CODEC.encoder("RoutingDecision", "a", "b").encode(record) == [framed, framed]


def test_a_timestamp_is_written_in_whole_milliseconds_rounded_down() -> None:
    before_epoch = datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)
    schema = parse_schema({"type": "long", "logicalType": "timestamp-millis"})
    out = bytearray()
    _compiled(schema)(out, before_epoch)
    assert bytes(out) == b"\x01" == _fastavro(schema, before_epoch)  # -1 ms, zigzag


_VARINT_EDGES = [0, 63, 64, 8191, 8192, 2**20]
"""Where a varint takes a second, a third byte: the writer's inline cases and its general one."""


@pytest.mark.parametrize("kind", ["int", "long"])
@pytest.mark.parametrize("number", [sign * n for n in _VARINT_EDGES for sign in (1, -1)] + [-65])
def test_an_integer_of_any_size_is_written_as_fastavro_writes_it(kind: str, number: int) -> None:
    assert _written(kind, number) == _fastavro(kind, number)


@pytest.mark.parametrize("size", _VARINT_EDGES)
def test_bytes_of_any_length_are_written_as_fastavro_writes_them(size: int) -> None:
    assert _written("bytes", b"x" * size) == _fastavro("bytes", b"x" * size)


def _written(schema: Any, value: Any) -> bytes:
    out = bytearray()
    _compiled(schema)(out, value)
    return bytes(out)
