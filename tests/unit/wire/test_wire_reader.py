"""The compiled reader reads what fastavro reads, or refuses, and then fastavro says why.

Its promise is narrow and checked here whole: for any bytes, it either raises one of the errors
the codec catches or returns the very value fastavro returns, ending where fastavro ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from conftest import LEAD
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_values import values

from processor.wire import Codec, SchemaName, load_schemas
from processor.wire.reader import READ_ERRORS, Read, Unreadable, compile_reader

EVERY_TYPE = parse_schema(
    {
        "type": "record",
        "name": "Every",
        "fields": [
            {"name": "flag", "type": "boolean"},
            {"name": "small", "type": "int"},
            {"name": "big", "type": "long"},
            {"name": "single", "type": "float"},
            {"name": "real", "type": "double"},
            {"name": "raw", "type": "bytes"},
            {"name": "text", "type": "string"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "maybe", "type": ["null", "string"]},
            {"name": "any", "type": ["null", "boolean", "long", "double", "string"]},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "counts", "type": {"type": "map", "values": ["null", "long"]}},
            {
                "name": "inner",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Inner",
                        "fields": [{"name": "list", "type": {"type": "array", "items": "double"}}],
                    },
                ],
            },
        ],
    }
)
LEAD_SCHEMA = load_schemas()["LeadSubmitted"].parsed


def _compiled(schema: Any) -> Read:
    read = compile_reader(schema)
    assert read is not None
    return read


READ_EVERY, READ_LEAD = _compiled(EVERY_TYPE), _compiled(LEAD_SCHEMA)

_longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_finite = st.floats(allow_nan=False)
_values = st.fixed_dictionaries(
    {
        "flag": st.booleans(),
        "small": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "big": _longs,
        "single": st.floats(allow_nan=False, width=32),
        "real": _finite,
        "raw": st.binary(max_size=20),
        "text": st.text(max_size=20),
        "at": st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
        ).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
        "maybe": st.none() | st.text(max_size=5),
        "any": st.none() | st.booleans() | _longs | _finite | st.text(max_size=5),
        "tags": st.lists(st.text(max_size=5), max_size=4),
        "counts": st.dictionaries(st.text(max_size=5), st.none() | _longs, max_size=4),
        "inner": st.none() | st.fixed_dictionaries({"list": st.lists(_finite, max_size=3)}),
    }
)


def _body(schema: Any, record: Any) -> bytes:
    sink = BytesIO()
    schemaless_writer(sink, schema, record)
    return sink.getvalue()


def _same_as_fastavro(read: Read, schema: Any, data: bytes) -> None:
    """The property: the compiled reader refuses, or agrees with fastavro on value and end."""
    try:
        value, end = read(data, 0)
    except (Unreadable, *READ_ERRORS):
        return
    source = BytesIO(data)
    assert schemaless_reader(source, schema, None) == value
    assert source.tell() == end


@given(record=_values)
def test_every_type_reads_back_as_fastavro_reads_it(record: dict[str, Any]) -> None:
    body = _body(EVERY_TYPE, record)
    value, end = READ_EVERY(body, 0)
    assert value == schemaless_reader(BytesIO(body), EVERY_TYPE, None)
    assert end == len(body)


@given(data=st.binary(max_size=200))
def test_any_bytes_are_refused_or_read_as_fastavro_reads_them(data: bytes) -> None:
    _same_as_fastavro(READ_EVERY, EVERY_TYPE, data)
    _same_as_fastavro(READ_LEAD, LEAD_SCHEMA, data)


@given(
    cut=st.integers(min_value=0, max_value=400),
    at=st.integers(min_value=0, max_value=400),
    byte=st.integers(min_value=0, max_value=255),
)
def test_a_lead_body_changed_anywhere_is_refused_or_read_as_fastavro_reads_it(
    cut: int, at: int, byte: int
) -> None:
    body = bytearray(_body(LEAD_SCHEMA, LEAD))
    body[at % len(body)] = byte
    _same_as_fastavro(READ_LEAD, LEAD_SCHEMA, bytes(body[: len(body) - cut % len(body)]))


def test_a_count_larger_than_the_bytes_left_is_refused_rather_than_looped_over() -> None:
    nulls = parse_schema({"type": "array", "items": "null"})
    huge = b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"  # a zigzag count of 2**62 - 1
    with pytest.raises(Unreadable):
        _compiled(nulls)(huge + b"\x00", 0)


def test_a_varint_past_64_bits_is_left_to_fastavro() -> None:
    with pytest.raises(Unreadable):
        _compiled("long")(b"\xff" * 10 + b"\x01", 0)


@pytest.mark.parametrize("length", [b"\x01", b"\x7f", b"\x81\x01"])
def test_a_string_of_negative_length_is_refused(length: bytes) -> None:
    with pytest.raises(Unreadable):
        _compiled("string")(length + b"abc", 0)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 8191, 8192, 70000])
def test_a_string_of_any_length_reads_as_fastavro_reads_it_and_ends_where_it_does(
    size: int,
) -> None:
    """Lengths on both sides of where their varint takes a second and a third byte."""
    data = _body("string", "é" * (size // 2) + "x" * (size % 2)) + b"after"
    value, end = _compiled("string")(data, 0)
    assert (value, end) == (schemaless_reader(BytesIO(data), "string", None), len(data) - 5)


def test_a_string_cut_short_is_refused() -> None:
    with pytest.raises(Unreadable):
        _compiled("string")(b"\x0aabc", 0)


@pytest.mark.parametrize("milliseconds", [0, -1, 1, 1_714_564_800_123, 253_402_300_799_999])
def test_a_timestamp_reads_as_fastavro_reads_it(milliseconds: int) -> None:
    schema = {"type": "long", "logicalType": "timestamp-millis"}
    data = _body("long", milliseconds)
    assert _compiled(schema)(data, 0)[0] == schemaless_reader(BytesIO(data), schema, None)


def test_a_timestamp_past_the_calendar_is_refused() -> None:
    schema = {"type": "long", "logicalType": "timestamp-millis"}
    with pytest.raises(READ_ERRORS):
        _compiled(schema)(_body("long", 253_402_300_800_000), 0)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "fixed", "name": "Four", "size": 4},
        {"type": "string", "logicalType": "uuid"},
        "io.leadrouter.Contact",
        parse_schema(
            {
                "type": "record",
                "name": "Node",
                "fields": [{"name": "next", "type": ["null", "Node"]}],
            }
        ),
    ],
)
def test_a_type_it_does_not_compile_leaves_the_schema_to_fastavro(schema: Any) -> None:
    assert compile_reader(schema) is None


SCHEMAS = load_schemas()
READERS = {name: _compiled(schema.parsed) for name, schema in SCHEMAS.items()}


@settings(deadline=None)  # records of nested schemas take a while to generate
@given(data=st.data(), name=st.sampled_from(sorted(SCHEMAS)))
def test_any_record_of_our_schemas_reads_back_as_fastavro_reads_it(
    data: st.DataObject, name: SchemaName
) -> None:
    parsed = SCHEMAS[name].parsed
    body = _body(parsed, data.draw(values(parsed)))
    try:
        value, end = READERS[name](body, 0)
    except OverflowError:  # a timestamp beyond the calendar, which fastavro cannot read either
        with pytest.raises(OverflowError):
            schemaless_reader(BytesIO(body), parsed, None)
        return
    assert repr(value) == repr(schemaless_reader(BytesIO(body), parsed, None))  # NaN as NaN
    assert end == len(body)


@given(data=st.binary(max_size=200), name=st.sampled_from(sorted(SCHEMAS)))
def test_any_bytes_are_refused_or_read_as_fastavro_reads_them_for_every_schema(
    data: bytes, name: SchemaName
) -> None:
    _same_as_fastavro(READERS[name], SCHEMAS[name].parsed, data)


@pytest.mark.parametrize("index", [b"\x01", b"\x04", b"\x80\x01"])  # -1, 2, 64
def test_an_enum_index_out_of_range_is_left_to_fastavro(index: bytes) -> None:
    colours = parse_schema({"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]})
    assert _compiled(colours)(b"\x02", 0) == ("GREEN", 1)
    with pytest.raises(Unreadable):
        _compiled(colours)(index, 0)


def test_the_codec_decodes_a_lead_with_it_as_fastavro_does() -> None:
    codec = Codec()
    value = codec.encode("leads", "LeadSubmitted", LEAD)
    lead, body = codec.decode_lead("leads", value)
    assert lead == schemaless_reader(BytesIO(body or b""), LEAD_SCHEMA, None) == LEAD
