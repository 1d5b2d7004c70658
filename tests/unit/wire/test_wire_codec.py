"""Codec: both framings for every schema, schema evolution, and a reason for every bad record."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_writer

from processor.localkafka import free_port
from processor.wire import (
    SCHEMA_NAMES,
    Codec,
    DecodeError,
    EncodeError,
    InvalidLead,
    SchemaName,
    load_schemas,
)
from processor.wire.framing import registry_header, single_object_header
from processor.wire.schemas import canonical_fingerprint

TOPIC = "leads.submitted"
SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"
SUBMITTED_AT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def avro_body(schema: Any, record: Mapping[str, Any]) -> bytes:
    """``record`` in Avro binary under ``schema``, as another writer would produce it."""
    sink = BytesIO()
    schemaless_writer(sink, parse_schema(schema), record)
    return sink.getvalue()


def lead_schema(change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The current LeadSubmitted schema as JSON, changed as a publisher's version might be."""
    schema: dict[str, Any] = json.loads(load_schemas()["LeadSubmitted"].text)
    if change is not None:
        change(schema)
    return schema


def without_field(name: str) -> Callable[[dict[str, Any]], None]:
    def change(schema: dict[str, Any]) -> None:
        schema["fields"] = [field for field in schema["fields"] if field["name"] != name]

    return change


def register(registry: SchemaRegistryClient, schema: Any, subject: str = f"{TOPIC}-value") -> int:
    return registry.register_schema(subject, Schema(json.dumps(schema), "AVRO"))


def unreachable_registry() -> Codec:
    return Codec(f"http://127.0.0.1:{free_port()}", {"max.retries": 0, "timeout": 2})


def decode_error(codec: Codec, data: bytes, schema: SchemaName = "LeadSubmitted") -> DecodeError:
    with pytest.raises(DecodeError) as raised:
        codec.decode(TOPIC, data, schema)
    return raised.value


# Round trips


@pytest.mark.parametrize("schema", SCHEMA_NAMES)
def test_single_object_round_trip(schema: SchemaName, records: Mapping[str, Any]) -> None:
    codec = Codec()
    data = codec.encode(TOPIC, schema, records[schema])
    assert data[:10] == single_object_header(load_schemas()[schema].fingerprint)
    assert codec.decode(TOPIC, data, schema) == records[schema]


@pytest.mark.parametrize("schema", SCHEMA_NAMES)
def test_registry_round_trip_under_the_topic_subject(
    schema: SchemaName,
    records: Mapping[str, Any],
    registry: SchemaRegistryClient,
    registry_codec: Codec,
) -> None:
    data = registry_codec.encode("some.topic", schema, records[schema])
    latest = registry.get_latest_version("some.topic-value")
    assert data[:5] == registry_header(latest.schema_id)
    assert json.loads(latest.schema.schema_str) == json.loads(load_schemas()[schema].text)
    assert registry_codec.decode("some.topic", data, schema) == records[schema]


@pytest.mark.parametrize("registered", [False, True])
def test_a_lead_with_only_the_required_fields_round_trips(
    registered: bool, minimal_lead: dict[str, Any], registry_codec: Codec
) -> None:
    codec = registry_codec if registered else Codec()
    assert codec.decode(TOPIC, codec.encode(TOPIC, "LeadSubmitted", minimal_lead)) == minimal_lead


def test_custom_field_values_keep_their_types(lead: dict[str, Any]) -> None:
    lead["fields"] = {"flag": True, "count": 1, "ratio": 1.0, "name": "x", "none": None}
    codec = Codec()
    fields = codec.decode(TOPIC, codec.encode(TOPIC, "LeadSubmitted", lead))["fields"]
    assert fields == lead["fields"]
    assert [type(value) for value in fields.values()] == [bool, int, float, str, type(None)]


def test_a_codec_with_a_registry_still_reads_single_object_records(
    lead: dict[str, Any], registry_codec: Codec
) -> None:
    assert registry_codec.decode(TOPIC, Codec().encode(TOPIC, "LeadSubmitted", lead)) == lead


def test_the_schema_id_is_registered_once_per_subject(
    lead: dict[str, Any],
    registry: SchemaRegistryClient,
    registry_codec: Codec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subjects: list[str] = []
    original = registry.register_schema

    def counting(subject: str, schema: Schema, normalize_schemas: bool = False) -> int:
        subjects.append(subject)
        return original(subject, schema, normalize_schemas)

    monkeypatch.setattr(registry, "register_schema", counting)
    for topic in ("deliveries.a", "deliveries.a", "deliveries.b", "deliveries.a"):
        registry_codec.encode(topic, "LeadSubmitted", lead)
    assert subjects == ["deliveries.a-value", "deliveries.b-value"]


def test_a_writer_schema_is_fetched_once_per_id(
    lead: dict[str, Any],
    registry: SchemaRegistryClient,
    registry_codec: Codec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = registry_codec.encode(TOPIC, "LeadSubmitted", lead)
    reader = Codec(registry_client=registry)
    fetched: list[int] = []
    original = registry.get_schema

    def counting(schema_id: int, *args: Any, **kwargs: Any) -> Schema:
        fetched.append(schema_id)
        return original(schema_id, *args, **kwargs)

    monkeypatch.setattr(registry, "get_schema", counting)
    for _ in range(3):
        assert reader.decode(TOPIC, data) == lead
    assert fetched == [data[4]]


def test_without_registration_the_codec_looks_the_id_up(
    lead: dict[str, Any], registry: SchemaRegistryClient
) -> None:
    codec = Codec(registry_client=registry, auto_register=False)
    with pytest.raises(EncodeError) as raised:
        codec.encode(TOPIC, "LeadSubmitted", lead)
    assert raised.value.reason == "registry-rejected"
    assert not raised.value.transient

    text = load_schemas()["LeadSubmitted"].text
    schema_id = registry.register_schema(f"{TOPIC}-value", Schema(text, "AVRO"))
    assert codec.encode(TOPIC, "LeadSubmitted", lead)[:5] == registry_header(schema_id)


def test_a_mock_url_gives_an_in_memory_registry(lead: dict[str, Any]) -> None:
    codec = Codec("mock://in-memory")
    data = codec.encode(TOPIC, "LeadSubmitted", lead)
    assert data[0] == 0
    assert codec.decode(TOPIC, data) == lead


def test_a_lead_from_confluents_avro_serializer_decodes(
    registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    schema_text = (SCHEMAS_DIR / "LeadSubmitted.avsc").read_text(encoding="utf-8")
    serializer = AvroSerializer(registry, schema_text)
    lead = {"lead_id": "web-1", "submitted_at": SUBMITTED_AT, "site_id": "acme-site"}
    data = serializer(lead, SerializationContext(TOPIC, MessageField.VALUE))
    assert data is not None
    decoded = registry_codec.decode(TOPIC, data)
    assert {key: decoded[key] for key in lead} == lead
    assert decoded["contact"] is None


def test_a_delivery_decodes_with_confluents_avro_deserializer(
    records: Mapping[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    topic = "deliveries.crm-east"
    data = registry_codec.encode(topic, "LeadDelivery", records["LeadDelivery"])
    deserializer = AvroDeserializer(registry)
    assert (
        deserializer(data, SerializationContext(topic, MessageField.VALUE))
        == records["LeadDelivery"]
    )


# A delivery copies the lead's bytes


@pytest.mark.parametrize("registered", [False, True])
def test_a_delivery_with_the_copied_lead_is_the_delivery_written_in_full(
    registered: bool, records: Mapping[str, Any], registry_codec: Codec
) -> None:
    codec = registry_codec if registered else Codec()
    delivery = records["LeadDelivery"]
    lead, body = codec.decode_lead(TOPIC, codec.encode(TOPIC, "LeadSubmitted", delivery["lead"]))
    assert lead == delivery["lead"]
    assert body is not None
    copied = codec.encode("out", "LeadDelivery", {**delivery, "lead": None}, {"lead": body})
    assert copied == codec.encode("out", "LeadDelivery", delivery)
    assert codec.decode("out", copied, "LeadDelivery") == delivery


def test_one_record_for_several_topics_differs_only_in_its_registry_header(
    records: Mapping[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    decision = records["RoutingDecision"]
    register(registry, {"type": "string"}, "first-value")  # ids of the two subjects now differ
    encoder = registry_codec.encoder("RoutingDecision", "first", "second")
    audit, unroutable = encoder.encode(decision)
    assert audit == registry_codec.encode("first", "RoutingDecision", decision)
    assert unroutable == registry_codec.encode("second", "RoutingDecision", decision)
    assert audit[:5] != unroutable[:5] and audit[5:] == unroutable[5:]


def test_a_lead_written_with_another_schema_has_no_body_to_copy(lead: dict[str, Any]) -> None:
    earlier = lead_schema(without_field("offer_id"))
    del lead["offer_id"]
    data = single_object_header(canonical_fingerprint(parse_schema(earlier))) + avro_body(
        earlier, lead
    )
    decoded, body = Codec(writer_schemas=[earlier]).decode_lead(TOPIC, data)
    assert decoded == {**lead, "offer_id": None}
    assert body is None  # its bytes lack offer_id: the delivery must write the lead itself


# Schema evolution


def test_an_earlier_writer_schema_in_the_fingerprint_table_is_resolved(
    lead: dict[str, Any],
) -> None:
    earlier = lead_schema(without_field("offer_id"))
    del lead["offer_id"]
    data = single_object_header(canonical_fingerprint(parse_schema(earlier))) + avro_body(
        earlier, lead
    )

    assert decode_error(Codec(), data).reason == "unknown-fingerprint"
    decoded = Codec(writer_schemas=[earlier]).decode(TOPIC, data)
    assert decoded == {**lead, "offer_id": None}


def test_an_earlier_writer_schema_in_the_registry_is_resolved(
    lead: dict[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    earlier = lead_schema(without_field("offer_id"))
    del lead["offer_id"]
    data = registry_header(register(registry, earlier)) + avro_body(earlier, lead)
    assert registry_codec.decode(TOPIC, data) == {**lead, "offer_id": None}


def test_a_newer_writer_schema_in_the_registry_loses_only_the_field_we_do_not_know(
    lead: dict[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    def add_utm_source(schema: dict[str, Any]) -> None:
        schema["fields"].append({"name": "utm_source", "type": ["null", "string"], "default": None})

    newer = lead_schema(add_utm_source)
    data = registry_header(register(registry, newer)) + avro_body(
        newer, {**lead, "utm_source": "newsletter"}
    )
    assert registry_codec.decode(TOPIC, data) == lead


def test_a_publisher_may_use_its_own_namespace(
    lead: dict[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    theirs = lead_schema(lambda schema: schema.update(name="com.acme.LeadSubmitted"))
    data = registry_header(register(registry, theirs)) + avro_body(theirs, lead)
    assert registry_codec.decode(TOPIC, data) == lead


def test_a_submitted_at_without_the_logical_type_still_reads_as_a_datetime(
    lead: dict[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    def plain_long(schema: dict[str, Any]) -> None:
        schema["fields"][1]["type"] = "long"

    # A namespace of its own keeps the canonical form apart from ours, so the registry's
    # schema is the one the body is read with.
    plain = lead_schema(plain_long)
    plain["name"] = "com.acme.LeadSubmitted"
    millis = int(lead["submitted_at"].timestamp() * 1000)
    data = registry_header(register(registry, plain)) + avro_body(
        plain, {**lead, "submitted_at": millis}
    )
    assert registry_codec.decode(TOPIC, data) == lead


def test_a_registered_copy_of_our_schema_is_read_with_our_logical_types(
    records: Mapping[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    delivery = json.loads(load_schemas()["LeadDelivery"].text)
    routed_at = next(field for field in delivery["fields"] if field["name"] == "routed_at")
    routed_at["type"] = "long"
    record = dict(records["LeadDelivery"])
    millis = int(record["routed_at"].timestamp() * 1000)
    data = registry_header(register(registry, delivery)) + avro_body(
        delivery, {**record, "routed_at": millis}
    )
    assert registry_codec.decode(TOPIC, data, "LeadDelivery") == record


def test_schema_references_in_the_registry_are_resolved(
    records: Mapping[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    lead_subject = "io.leadrouter.LeadSubmitted"
    register(registry, json.loads(load_schemas()["LeadSubmitted"].text), lead_subject)
    delivery = json.loads(load_schemas()["LeadDelivery"].text)
    for field in delivery["fields"]:
        if field["name"] == "lead":
            field["type"] = "io.leadrouter.LeadSubmitted"
    schema_id = registry.register_schema(
        "deliveries.crm-east-value",
        Schema(
            json.dumps(delivery),
            "AVRO",
            [SchemaReference("io.leadrouter.LeadSubmitted", lead_subject, 1)],
        ),
    )
    body = Codec().encode("deliveries.crm-east", "LeadDelivery", records["LeadDelivery"])[10:]
    decoded = registry_codec.decode(
        "deliveries.crm-east", registry_header(schema_id) + body, "LeadDelivery"
    )
    assert decoded == records["LeadDelivery"]


# Every reason a record is refused


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"{}", "unknown-framing"),
        (b"\x00\x00\x00", "truncated"),
        (b"\xc3\x01\x00\x00", "truncated"),
        (single_object_header(0x0123456789ABCDEF) + b"\x00", "unknown-fingerprint"),
        (registry_header(1) + b"\x00", "no-registry"),
    ],
)
def test_bad_headers_are_refused_with_their_reason(data: bytes, reason: str) -> None:
    error = decode_error(Codec(), data)
    assert error.reason == reason
    assert not error.transient


def test_an_unknown_schema_id_is_refused(registry_codec: Codec) -> None:
    error = decode_error(registry_codec, registry_header(424242) + b"\x00")
    assert error.reason == "unknown-schema-id"
    assert "424242" in str(error)


def test_an_unreachable_registry_is_a_transient_failure() -> None:
    error = decode_error(unreachable_registry(), registry_header(1) + b"\x00")
    assert error.reason == "registry-unavailable"
    assert error.transient


def test_a_registry_outage_is_not_remembered(
    lead: dict[str, Any],
    registry: SchemaRegistryClient,
    registry_codec: Codec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = registry_codec.encode(TOPIC, "LeadSubmitted", lead)
    reader = Codec(registry_client=registry)

    def unavailable(*args: Any, **kwargs: Any) -> Schema:
        raise SchemaRegistryError(503, 50301, "Service Unavailable")

    monkeypatch.setattr(registry, "get_schema", unavailable)
    assert decode_error(reader, data).reason == "registry-unavailable"
    monkeypatch.undo()
    assert reader.decode(TOPIC, data) == lead


def test_a_body_cut_inside_a_string_is_truncated(lead: dict[str, Any]) -> None:
    data = Codec().encode(TOPIC, "LeadSubmitted", lead)
    assert data.endswith(lead["comments"].encode())  # the last field: the cut falls in its text
    assert decode_error(Codec(), data[:-1]).reason == "truncated"


def test_a_body_cut_inside_a_number_is_truncated(lead: dict[str, Any]) -> None:
    data = Codec().encode(TOPIC, "LeadSubmitted", lead)
    lead_id = lead["lead_id"].encode()
    submitted_at = 10 + 1 + len(lead_id)  # header, length byte, lead id: then a 6-byte varint
    assert data[submitted_at - len(lead_id) : submitted_at] == lead_id
    assert decode_error(Codec(), data[: submitted_at + 3]).reason == "truncated"


def test_a_header_without_a_body_is_truncated(registry_codec: Codec, lead: dict[str, Any]) -> None:
    data = registry_codec.encode(TOPIC, "LeadSubmitted", lead)
    assert decode_error(registry_codec, data[:5]).reason == "truncated"
    assert (
        decode_error(Codec(), single_object_header(load_schemas()["Geo"].fingerprint), "Geo").reason
        == "truncated"
    )


def test_bytes_after_the_record_are_invalid(lead: dict[str, Any]) -> None:
    data = Codec().encode(TOPIC, "LeadSubmitted", lead) + b"\x00"
    error = decode_error(Codec(), data)
    assert error.reason == "invalid-avro"
    assert "1 bytes follow" in str(error)


def test_an_out_of_range_union_index_is_invalid(minimal_lead: dict[str, Any]) -> None:
    data = bytearray(Codec().encode(TOPIC, "LeadSubmitted", minimal_lead))
    # The body ends with the null branches (index 0, a byte each) of the eight optional fields.
    assert data[-8:] == bytes(8)
    data[-8] = 0x0A  # branch 5 of interest_category's two
    assert decode_error(Codec(), bytes(data)).reason == "invalid-avro"


def test_text_that_is_not_utf8_is_invalid(minimal_lead: dict[str, Any]) -> None:
    minimal_lead["lead_id"] = "abc"
    data = Codec().encode(TOPIC, "LeadSubmitted", minimal_lead)
    assert data[10:14] == b"\x06abc"
    broken = data[:11] + b"\xff\xfe\xfd" + data[14:]
    assert decode_error(Codec(), broken).reason == "invalid-avro"


@pytest.mark.parametrize("millis", [253402300800000, -62135596800001, 2**62, -(2**63)])
def test_a_timestamp_beyond_the_calendar_is_an_invalid_lead_with_its_id(
    millis: int, minimal_lead: dict[str, Any]
) -> None:
    # Valid Avro (a long), but no datetime holds it: the lead breaks the contract, as it does when
    # its writer declares a plain long (validate_lead), and its id is kept for the audit record.
    plain = lead_schema(lambda schema: schema["fields"][1].update(type="long"))
    header = single_object_header(load_schemas()["LeadSubmitted"].fingerprint)
    data = header + avro_body(plain, {**minimal_lead, "submitted_at": millis})
    error = decode_error(Codec(), data)
    assert isinstance(error, InvalidLead)
    assert (error.field, error.lead_id) == ("submitted_at", minimal_lead["lead_id"])


def test_another_record_type_is_a_schema_mismatch(
    records: Mapping[str, Any], registry_codec: Codec
) -> None:
    for codec in (Codec(), registry_codec):
        data = codec.encode("deliveries.crm-east", "LeadDelivery", records["LeadDelivery"])
        error = decode_error(codec, data)
        assert error.reason == "schema-mismatch"
        assert "LeadDelivery" in str(error)


def test_an_incompatible_writer_schema_is_a_schema_mismatch(
    lead: dict[str, Any], registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    def numeric_site(schema: dict[str, Any]) -> None:
        schema["fields"][2]["type"] = "long"

    writer = lead_schema(numeric_site)
    data = registry_header(register(registry, writer)) + avro_body(writer, {**lead, "site_id": 7})
    assert decode_error(registry_codec, data).reason == "schema-mismatch"


def test_a_registry_schema_that_is_not_avro_is_a_schema_mismatch(
    registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    schema_id = registry.register_schema(
        f"{TOPIC}-value", Schema('syntax = "proto3"; message Lead {}', "PROTOBUF")
    )
    error = decode_error(registry_codec, registry_header(schema_id) + b"\x00")
    assert error.reason == "schema-mismatch"
    assert "PROTOBUF" in str(error)


def test_a_registry_schema_that_could_spin_the_reader_is_a_schema_mismatch(
    registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    def spinning(schema: dict[str, Any]) -> None:
        schema["fields"].append({"name": "nulls", "type": {"type": "array", "items": "null"}})

    schema_id = register(registry, lead_schema(spinning))
    # lead_id, site_id... would follow; the count 2**62 alone would keep a reader busy for ever.
    error = decode_error(registry_codec, registry_header(schema_id) + b"\x80" * 9 + b"\x01")
    assert error.reason == "schema-mismatch"
    assert "zero-width" in str(error)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_lead_without_a_lead_id_is_invalid(blank: str, lead: dict[str, Any]) -> None:
    data = Codec().encode(TOPIC, "LeadSubmitted", {**lead, "lead_id": blank})
    error = decode_error(Codec(), data)
    assert isinstance(error, InvalidLead)
    assert (error.reason, error.field, error.lead_id) == ("invalid-lead", "lead_id", None)


def test_a_lead_without_a_site_id_is_invalid_but_keeps_its_lead_id(lead: dict[str, Any]) -> None:
    data = Codec().encode(TOPIC, "LeadSubmitted", {**lead, "site_id": " "})
    error = decode_error(Codec(), data)
    assert isinstance(error, InvalidLead)
    assert (error.reason, error.field, error.lead_id) == ("invalid-lead", "site_id", "lead-0001")


def test_lead_checks_apply_only_to_leads(records: Mapping[str, Any]) -> None:
    decision = {**records["RoutingDecision"], "lead_id": " "}
    codec = Codec()
    data = codec.encode(TOPIC, "RoutingDecision", decision)
    assert codec.decode(TOPIC, data, "RoutingDecision") == decision


# Encoding failures


@pytest.mark.parametrize(
    "change",
    [
        lambda lead: lead.pop("submitted_at"),
        lambda lead: lead.update(site_id=42),
        lambda lead: lead.update(fields={"nested": {"not": "allowed"}}),
        lambda lead: lead["vehicle"].update(year=2**40),
    ],
    ids=["missing", "wrong-type", "unsupported-custom-value", "int-out-of-range"],
)
def test_a_record_that_does_not_fit_its_schema_is_not_encoded(
    change: Callable[[dict[str, Any]], Any], lead: dict[str, Any]
) -> None:
    change(lead)
    with pytest.raises(EncodeError) as raised:
        Codec().encode(TOPIC, "LeadSubmitted", lead)
    assert raised.value.reason == "invalid-record"
    assert "LeadSubmitted" in str(raised.value)


def test_an_unknown_enum_symbol_is_not_encoded(records: Mapping[str, Any]) -> None:
    delivery = copy.deepcopy(dict(records["LeadDelivery"]))
    delivery["format"] = "fax"
    with pytest.raises(EncodeError) as raised:
        Codec().encode("deliveries.crm-east", "LeadDelivery", delivery)
    assert raised.value.reason == "invalid-record"


def test_an_unreachable_registry_fails_encoding_transiently(lead: dict[str, Any]) -> None:
    with pytest.raises(EncodeError) as raised:
        unreachable_registry().encode(TOPIC, "LeadSubmitted", lead)
    assert raised.value.reason == "registry-unavailable"
    assert raised.value.transient
