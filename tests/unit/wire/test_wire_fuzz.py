"""Whatever bytes arrive, decoding ends in a record or a DecodeError, and without taking memory
a length prefix asks for: a huge one is refused before anything of that size is allocated.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from processor.wire import SCHEMA_NAMES, Codec, DecodeError, SchemaName, load_schemas
from processor.wire.framing import registry_header, single_object_header

TOPIC = "leads.submitted"


@dataclass(frozen=True)
class Samples:
    """A codec with a registry, and a valid encoding of every schema in both framings."""

    codec: Codec
    encoded: Mapping[tuple[SchemaName, str], bytes]

    def headers(self) -> list[bytes]:
        """Every header a valid record starts with: known fingerprints and registered ids."""
        return sorted(
            {data[:10] if data[0] == 0xC3 else data[:5] for data in self.encoded.values()}
        )


@pytest.fixture(scope="session")
def samples(records: Mapping[SchemaName, Mapping[str, Any]]) -> Samples:
    codec = Codec(registry_client=SchemaRegistryClient.new_client({"url": "mock://fuzz"}))
    encoded = {}
    for name in SCHEMA_NAMES:
        encoded[name, "registry"] = codec.encode(TOPIC, name, records[name])
        encoded[name, "single-object"] = Codec().encode(TOPIC, name, records[name])
    return Samples(codec, encoded)


def decodes_or_refuses(codec: Codec, data: bytes, schema: SchemaName) -> DecodeError | None:
    """Decode ``data``; a record must come out as a dict, anything else as a DecodeError."""
    try:
        record = codec.decode(TOPIC, data, schema)
    except DecodeError as error:
        assert error.reason
        return error
    assert isinstance(record, dict)
    return None


_schemas = st.sampled_from(SCHEMA_NAMES)
_framings = st.sampled_from(["registry", "single-object"])


@given(data=st.binary(max_size=300), schema=_schemas)
def test_random_bytes(samples: Samples, data: bytes, schema: SchemaName) -> None:
    decodes_or_refuses(samples.codec, data, schema)


@given(choice=st.data(), body=st.binary(max_size=300), schema=_schemas)
def test_random_bodies_behind_valid_headers(
    samples: Samples, choice: st.DataObject, body: bytes, schema: SchemaName
) -> None:
    header = choice.draw(st.sampled_from(samples.headers()))
    decodes_or_refuses(samples.codec, header + body, schema)


@given(choice=st.data(), schema=_schemas, framing=_framings)
def test_every_truncation_of_a_valid_record_is_refused(
    samples: Samples, choice: st.DataObject, schema: SchemaName, framing: str
) -> None:
    data = samples.encoded[schema, framing]
    cut = choice.draw(st.integers(min_value=0, max_value=len(data) - 1))
    error = decodes_or_refuses(samples.codec, data[:cut], schema)
    assert error is not None
    assert error.reason == ("empty" if cut == 0 else "truncated")


@given(choice=st.data(), schema=_schemas, framing=_framings)
def test_changed_bytes_in_a_valid_record(
    samples: Samples, choice: st.DataObject, schema: SchemaName, framing: str
) -> None:
    data = bytearray(samples.encoded[schema, framing])
    for _ in range(choice.draw(st.integers(min_value=1, max_value=4))):
        position = choice.draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[position] = choice.draw(st.integers(min_value=0, max_value=255))
    decodes_or_refuses(samples.codec, bytes(data), schema)


@given(
    choice=st.data(),
    magic=st.integers(min_value=1, max_value=255).filter(lambda byte: byte != 0xC3),
    schema=_schemas,
    framing=_framings,
)
def test_a_wrong_magic_byte_is_an_unknown_framing(
    samples: Samples, choice: st.DataObject, magic: int, schema: SchemaName, framing: str
) -> None:
    data = bytes((magic,)) + samples.encoded[schema, framing][1:]
    error = decodes_or_refuses(samples.codec, data, schema)
    assert error is not None
    assert error.reason == "unknown-framing"


@given(schema_id=st.integers(min_value=1000, max_value=2**32 - 1), body=st.binary(max_size=50))
def test_unregistered_schema_ids(samples: Samples, schema_id: int, body: bytes) -> None:
    error = decodes_or_refuses(samples.codec, registry_header(schema_id) + body, "LeadSubmitted")
    assert error is not None
    assert error.reason == "unknown-schema-id"


def _zigzag(value: int) -> bytes:
    """An Avro long (zig-zag, then 7 bits a byte), as fastavro writes it."""
    out = BytesIO()
    schemaless_writer(out, "long", value)
    return out.getvalue()


_huge = st.integers(min_value=2**20, max_value=2**63 - 1) | st.integers(
    min_value=-(2**63), max_value=-(2**20)
)


_LEAD_HEADER = single_object_header(load_schemas()["LeadSubmitted"].fingerprint)
_DELIVERY_HEADER = single_object_header(load_schemas()["LeadDelivery"].fingerprint)
_BEFORE_FIELDS_MAP = b"\x02x" + _zigzag(0) + b"\x02s" + b"\x00" * 6 + b"\x02"
"""A lead's body up to its ``fields`` map: lead_id, submitted_at, site_id, six nulls, a map."""
_BEFORE_DESTINATIONS = b"\x02d\x02l\x00\x02p\x00\x00\x00" + bytes(8) + b"\x02$\x00\x00"
"""A delivery's body up to its ``destinations`` array."""


_CODEC = Codec()

_ALLOWED_BYTES = 2**20
"""What refusing a crafted record may allocate at its peak: far below any length it claims."""


def refused_within_bounds(refuse: Callable[[], DecodeError | None]) -> None:
    """Refuses once untraced (the codec compiles its reader on first use), then traced."""
    refuse()
    tracemalloc.start()
    try:
        error = refuse()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error is not None
    assert peak < _ALLOWED_BYTES


@given(length=_huge)
def test_a_huge_string_length_is_refused_without_allocating_it(length: int) -> None:
    lead = _LEAD_HEADER + _zigzag(length) + b"lead-1"
    refused_within_bounds(lambda: decodes_or_refuses(_CODEC, lead, "LeadSubmitted"))


def test_the_crafted_prefixes_lead_where_they_say(records: Mapping[SchemaName, Any]) -> None:
    lead = {
        **{key: None for key in records["LeadSubmitted"]},
        "lead_id": "x",
        "site_id": "s",
        "submitted_at": 0,
        "fields": {"k": None},
    }
    assert Codec().encode(TOPIC, "LeadSubmitted", lead) == (
        _LEAD_HEADER + _BEFORE_FIELDS_MAP + _zigzag(1) + b"\x02k\x00" + _zigzag(0) + b"\x00"
    )
    delivery = {
        **records["LeadDelivery"],
        "delivery_id": "d",
        "lead_id": "l",
        "profile": None,
        "partner": "p",
        "partner_name": None,
        "assignment": None,
        "tier": "category",
        "price": 0.0,
        "currency": "$",
        "distance_km": None,
        "format": "adf_xml",
        "destinations": ["x"],
    }
    assert (
        Codec()
        .encode(TOPIC, "LeadDelivery", delivery)
        .startswith(_DELIVERY_HEADER + _BEFORE_DESTINATIONS + _zigzag(1) + b"\x02x")
    )


@given(count=_huge)
def test_a_huge_map_or_array_count_is_refused_without_reading_it(count: int) -> None:
    lead = _LEAD_HEADER + _BEFORE_FIELDS_MAP + _zigzag(count) + b"\x02k\x00"
    refused_within_bounds(lambda: decodes_or_refuses(_CODEC, lead, "LeadSubmitted"))
    delivery = _DELIVERY_HEADER + _BEFORE_DESTINATIONS + _zigzag(count) + b"\x02x"
    refused_within_bounds(lambda: decodes_or_refuses(_CODEC, delivery, "LeadDelivery"))
