"""Encode and decode lead-router's records in both framings of the contract.

Decoding is on the processor's hot path, once per lead, so the work that does not depend on the
record's bytes is done once per writer schema and kept as a ``_Plan``: which schema the bytes were
written with, which schema the caller reads them as (none when the two are the same, which spares
fastavro its schema resolution), and where the body starts. A record then costs a header read, a
dictionary look-up and the decoding itself, which for a record written with our own schema is a
reader compiled from it (``processor.wire.reader``), two to three times faster than fastavro;
fastavro reads every other record, and again any record the compiled reader refuses, so that
what goes wrong is worded as before.

A writer schema fetched from the registry whose parsing canonical form is one of ours (what
lead-router itself registers, or a publisher registering our ``.avsc`` file) is read with our
parsed schema: same canonical form, same bytes, and our logical types.

Encoding is on the hot path too, and a ``LeadDelivery`` carries the whole lead. A lead written with
our schema is already Avro in the input record: ``decode_lead`` hands its body back, and ``encode``
copies it into the delivery (``encoded``) instead of writing the lead's fields one by one again,
which was two thirds of the cost of encoding a delivery. An Avro record's body is the bodies of
its fields one after the other, so the fields around the copied one are written with record
schemas of their own (``_Segments``). Each body is written by a writer compiled from its schema
(``processor.wire.writer``), four to seven times faster than fastavro; fastavro writes any record
the compiled writer is not sure of, so that a misfit record is refused in fastavro's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, cast

from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.types import Schema

from processor.settings import RegistrySettings
from processor.wire.errors import DecodeError, EncodeError
from processor.wire.framing import (
    REGISTRY_HEADER_SIZE,
    SINGLE_OBJECT_HEADER_SIZE,
    Framing,
    read_header,
    registry_header,
    single_object_header,
)
from processor.wire.lead import validate_lead
from processor.wire.reader import READ_ERRORS, Read, Unreadable, compile_reader
from processor.wire.registry import Registry, connect, subject_for
from processor.wire.schemas import (
    SCHEMA_NAMES,
    SchemaName,
    WireSchema,
    load_history,
    load_schemas,
    parse_writer_schema,
)
from processor.wire.writer import WRITE_ERRORS, Unwritable, Write, compile_writer

_BODY_START = {
    Framing.REGISTRY: REGISTRY_HEADER_SIZE,
    Framing.SINGLE_OBJECT: SINGLE_OBJECT_HEADER_SIZE,
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read records of one writer schema as one of our schemas."""

    writer: Schema
    reader: Schema | None
    body_start: int
    fast: Read | None = None
    """The writer schema's compiled reader, when there is no reader schema to resolve to and
    the writer's types all compile: it reads well-formed bodies, fastavro the rest."""


@dataclass(frozen=True, slots=True)
class _Segments:
    """A record schema cut around fields whose bodies come already encoded.

    ``parts`` alternates: a record schema of the fields up to the next encoded one (None when
    there are none), then that field's name; the last part is the schema of the remaining fields.
    """

    parts: tuple[Schema | str | None, ...]
    fast: tuple[Write | str | None, ...] | None
    """``parts`` with each schema compiled (``compile_writer``); None when one does not compile."""

    @classmethod
    def of(cls, parsed: Schema, encoded: frozenset[str]) -> _Segments:
        assert isinstance(parsed, dict)
        named = parsed.get("__named_schemas", {})
        parts: list[Schema | str | None] = []
        run: list[Any] = []

        def close_run() -> None:
            segment = {"type": "record", "name": f"{parsed['name']}_{len(parts)}", "fields": run}
            parts.append(parse_schema(segment, named_schemas=dict(named)) if run else None)

        for spec in parsed["fields"]:
            if spec["name"] in encoded:
                close_run()
                parts.append(spec["name"])
                run = []
            else:
                run.append(spec)
        close_run()
        return cls(tuple(parts), _compiled(parts))

    def write(self, sink: BytesIO, record: Mapping[str, Any], encoded: Mapping[str, bytes]) -> None:
        for part in self.parts:
            if isinstance(part, str):
                sink.write(encoded[part])
            elif part is not None:
                schemaless_writer(sink, part, record)

    def write_fast(
        self, out: bytearray, record: Mapping[str, Any], encoded: Mapping[str, bytes]
    ) -> bool:
        """``write`` by the compiled writers, when the schema compiled; raises as they do."""
        if self.fast is None:
            return False
        for part in self.fast:
            if isinstance(part, str):
                out += encoded[part]
            elif part is not None:
                part(out, record)
        return True


def _compiled(parts: list[Schema | str | None]) -> tuple[Write | str | None, ...] | None:
    """Segments' parts with each schema compiled, or None when one does not compile."""
    compiled: list[Write | str | None] = []
    for part in parts:
        if isinstance(part, str) or part is None:
            compiled.append(part)
        else:
            write = compile_writer(part)
            if write is None:
                return None
            compiled.append(write)
    return tuple(compiled)


class Codec:
    """Reads and writes lead-router's Avro records, in registry framing or single-object encoding.

    With ``registry_url`` (``config`` adds the client's settings, e.g. ``basic.auth.user.info``;
    a ``mock://`` URL gives an in-memory registry), ``encode`` writes registry framing under the
    subject ``<topic>-value``, registering the schema unless ``auto_register`` is false; without
    it, ``encode`` writes single-object encoding. ``decode`` reads both framings either way.
    ``registry_client`` passes a ready client instead of a URL.

    A single-object record is decoded when its fingerprint is that of a released version of one
    of lead-router's schemas (``load_history``), or of one of ``writer_schemas``: more writer
    schemas (self-contained, as JSON values) that publishers write with, such as a newer version
    of ``LeadSubmitted`` that this lead-router does not ship yet. Either is read as the current
    version by Avro schema resolution.

    A codec can be shared between threads: its caches only gain entries, and every call has its
    own buffers.
    """

    def __init__(
        self,
        registry_url: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        registry_client: SchemaRegistryClient | None = None,
        auto_register: bool = True,
        writer_schemas: Iterable[Any] = (),
    ) -> None:
        if registry_client is None and registry_url:
            registry_client = connect(registry_url, config)
        self._registry = (
            Registry(registry_client, auto_register=auto_register) if registry_client else None
        )
        self._schemas = load_schemas()
        self._single_object_headers = {
            name: single_object_header(schema.fingerprint) for name, schema in self._schemas.items()
        }
        released = (schema for versions in load_history().values() for schema in versions)
        self._known: dict[int, WireSchema] = {
            schema.fingerprint: schema  # the current schemas last: their fingerprints map to them
            for schema in (
                *released,
                *map(parse_writer_schema, writer_schemas),
                *self._schemas.values(),
            )
        }
        self._registry_writers: dict[int, WireSchema] = {}
        self._registry_headers: dict[SchemaName, dict[str, bytes]] = {
            name: {} for name in SCHEMA_NAMES
        }
        self._plans: dict[Framing, dict[SchemaName, dict[int, _Plan]]] = {
            framing: {name: {} for name in SCHEMA_NAMES} for framing in Framing
        }
        self._segments: dict[tuple[SchemaName, frozenset[str]], _Segments] = {}
        self._fast: dict[SchemaName, Read | None] = {}
        self._fast_writers: dict[SchemaName, Write | None] = {}

    @classmethod
    def for_registry(
        cls, registry: RegistrySettings, *, writer_schemas: Iterable[Any] = ()
    ) -> Codec:
        """The codec of the registry these settings name, with its authentication and TLS; every
        command builds its codec so, so that none can reach a secured registry without them."""
        return cls(
            registry.schema_registry_url,
            registry.schema_registry_config(),
            writer_schemas=writer_schemas,
        )

    def decode(
        self, topic: str, data: bytes, schema: SchemaName = "LeadSubmitted"
    ) -> dict[str, Any]:
        """The record in ``data``, read as ``schema``; any bad input raises ``DecodeError``.

        A ``LeadSubmitted`` is also checked against the contract (``validate_lead``): a lead
        without a lead id or a site id raises ``InvalidLead``. ``topic`` is named in messages.
        """
        record, _ = self._decode(topic, data, schema)
        if schema == "LeadSubmitted":
            return validate_lead(record)
        return record

    def decode_lead(self, topic: str, data: bytes) -> tuple[dict[str, Any], bytes | None]:
        """``decode`` of a ``LeadSubmitted``, with the record's Avro body when it was written
        with our schema: what ``encode`` can copy as the ``lead`` of a delivery."""
        record, plan = self._decode(topic, data, "LeadSubmitted")
        lead = validate_lead(record)
        return lead, data[plan.body_start :] if plan.reader is None else None

    def lead_body(self, lead: Mapping[str, Any]) -> bytes:
        """The Avro body of ``lead`` as our current ``LeadSubmitted``: what ``decode_lead`` gives
        for a lead written with it, and what ``read_lead_body`` reads back."""
        return self._body("LeadSubmitted", lead, None)

    def read_lead_body(self, body: bytes) -> dict[str, Any]:
        """The lead in a body of our current ``LeadSubmitted`` (no header), checked as ``decode``
        checks one; any bad input raises ``DecodeError``."""
        plan = _Plan(writer=self._schemas["LeadSubmitted"].parsed, reader=None, body_start=0)
        found = _read_fast(self._fast_reader("LeadSubmitted"), body, 0)
        if found is not None:
            return validate_lead(found)
        source = BytesIO(body)
        try:
            record = schemaless_reader(source, plan.writer, None)
        except Exception as error:  # fastavro reports malformed bytes with many exception types
            if isinstance(error, OverflowError | ValueError):
                _refuse_lead_beyond_the_calendar(body, plan)
            raise _body_error(error, "LeadSubmitted", source.tell() >= len(body)) from error
        if source.tell() != len(body):
            raise DecodeError("invalid-avro", "bytes follow the LeadSubmitted body")
        return validate_lead(cast(dict[str, Any], record))

    def single_object(self, schema: SchemaName, body: bytes) -> bytes:
        """``body`` (of our current ``schema``) in single-object encoding: readable by any codec
        of lead-router, registry or not, and framed without asking a registry."""
        return self._single_object_headers[schema] + body

    def _decode(self, topic: str, data: bytes, schema: SchemaName) -> tuple[dict[str, Any], _Plan]:
        framing, key = read_header(data)
        plan = self._plans[framing][schema].get(key)
        if plan is None:
            plan = self._plan(topic, framing, key, schema)
        found = _read_fast(plan.fast, data, plan.body_start)
        if found is not None:
            return found, plan
        source = BytesIO(data)
        source.seek(plan.body_start)
        try:
            record = schemaless_reader(source, plan.writer, plan.reader)
        except Exception as error:  # fastavro reports malformed bytes with many exception types
            if schema == "LeadSubmitted" and isinstance(error, OverflowError | ValueError):
                _refuse_lead_beyond_the_calendar(data, plan)
            raise _body_error(error, schema, source.tell() >= len(data)) from error
        trailing = len(data) - source.tell()
        if trailing:
            raise DecodeError("invalid-avro", f"{trailing} bytes follow the {schema} record")
        return cast(dict[str, Any], record), plan

    def encode(
        self,
        topic: str,
        schema: SchemaName,
        record: Mapping[str, Any],
        encoded: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """``record`` as ``schema`` for ``topic``, framed for the registry when one is configured.

        ``encoded`` gives fields whose Avro bodies are known (the ``lead`` of a delivery, from
        ``decode_lead``): they are copied as they are, and ``record``'s values for them unused.
        Raises ``EncodeError``: ``invalid-record`` when the record does not fit the schema, or a
        registry reason when the registry gives no id.
        """
        # The body first: a misfit record fails as such, even while the registry is down.
        body = self._body(schema, record, encoded)
        return self._header(topic, schema) + body

    def encoder(self, schema: SchemaName, *topics: str) -> Encoder:
        """An ``Encoder`` of ``schema`` records for ``topics``: for code that writes the same
        schema to the same topics record after record, as the processor does, and for one record
        on several topics (the body is written once)."""
        return Encoder(self, schema, topics)

    def _body(
        self, schema: SchemaName, record: Mapping[str, Any], encoded: Mapping[str, bytes] | None
    ) -> bytes:
        body = self._fast_body(schema, record, encoded)
        if body is not None:
            return body
        sink = BytesIO()
        try:
            if encoded:
                self._segments_of(schema, encoded).write(sink, record, encoded)
            else:
                schemaless_writer(sink, self._schemas[schema].parsed, record)
        except Exception as error:  # fastavro reports a misfit record with many exception types
            raise EncodeError(
                "invalid-record", f"not a valid {schema}: {type(error).__name__}: {error}"
            ) from error
        return sink.getvalue()

    def _fast_body(
        self, schema: SchemaName, record: Mapping[str, Any], encoded: Mapping[str, bytes] | None
    ) -> bytes | None:
        """The body written by the compiled writers, or None when they are not sure of the
        record (fastavro writes it then, or says what is wrong) or the schema did not compile."""
        out = bytearray()
        try:
            if encoded:
                if not self._segments_of(schema, encoded).write_fast(out, record, encoded):
                    return None
            else:
                write = self._fast_writer(schema)
                if write is None:
                    return None
                write(out, record)
        except (Unwritable, *WRITE_ERRORS):
            return None
        return bytes(out)

    def _fast_writer(self, schema: SchemaName) -> Write | None:
        if schema not in self._fast_writers:
            self._fast_writers[schema] = compile_writer(self._schemas[schema].parsed)
        return self._fast_writers[schema]

    def _segments_of(self, schema: SchemaName, encoded: Mapping[str, bytes]) -> _Segments:
        key = (schema, frozenset(encoded))
        segments = self._segments.get(key)
        if segments is None:
            segments = self._segments[key] = _Segments.of(self._schemas[schema].parsed, key[1])
        return segments

    def _header(self, topic: str, schema: SchemaName) -> bytes:
        if self._registry is None:
            return self._single_object_headers[schema]
        headers = self._registry_headers[schema]
        header = headers.get(topic)
        if header is None:
            schema_id = self._registry.schema_id(subject_for(topic), self._schemas[schema])
            header = headers[topic] = registry_header(schema_id)
        return header

    def _plan(self, topic: str, framing: Framing, key: int, schema: SchemaName) -> _Plan:
        writer = self._writer(topic, framing, key)
        reader = self._schemas[schema]
        if _local_name(writer.name) != _local_name(reader.name):
            raise DecodeError(
                "schema-mismatch",
                f"the record on {topic} was written as {writer.name}, not as {reader.name}",
            )
        same = writer is reader
        plan = _Plan(
            writer=writer.parsed,
            reader=None if same else reader.parsed,
            body_start=_BODY_START[framing],
            fast=self._fast_reader(schema) if same else None,
        )
        self._plans[framing][schema][key] = plan
        return plan

    def _fast_reader(self, schema: SchemaName) -> Read | None:
        if schema not in self._fast:
            self._fast[schema] = compile_reader(self._schemas[schema].parsed)
        return self._fast[schema]

    def _writer(self, topic: str, framing: Framing, key: int) -> WireSchema:
        if framing is Framing.SINGLE_OBJECT:
            known = self._known.get(key)
            if known is None:
                fingerprint = single_object_header(key)[2:].hex()
                raise DecodeError(
                    "unknown-fingerprint", f"no known schema has the fingerprint {fingerprint}"
                )
            return known
        if self._registry is None:
            raise DecodeError(
                "no-registry", f"a registry-framed record on {topic}, but no registry is set"
            )
        writer = self._registry_writers.get(key)
        if writer is None:
            fetched = self._registry.writer_schema(key)
            writer = self._registry_writers[key] = self._known.get(fetched.fingerprint, fetched)
        return writer


def _read_fast(read: Read | None, data: bytes, start: int) -> dict[str, Any] | None:
    """The record a compiled reader reads from ``start`` to the end of ``data``, or None when
    there is none or it is not sure of the bytes: fastavro reads them then, and says what is
    wrong."""
    if read is None:
        return None
    try:
        found, end = read(data, start)
    except (Unreadable, *READ_ERRORS):
        return None
    return cast(dict[str, Any], found) if end == len(data) else None


def _refuse_lead_beyond_the_calendar(data: bytes, plan: _Plan) -> None:
    """Raises ``InvalidLead`` when the lead failed only for a timestamp no datetime can hold.

    Such a ``submitted_at`` is a valid Avro long, so the record is a lead that breaks the
    contract, like one whose writer declared a plain ``long`` there (``validate_lead`` refuses
    both the same way), and its lead id can be read for the audit record. This re-reads the body
    without logical types, on the error path only; any other failure is left to the caller.
    """
    source = BytesIO(data)
    source.seek(plan.body_start)
    try:
        record = schemaless_reader(
            source, _without_logical_types(plan.writer), _without_logical_types(plan.reader)
        )
    except Exception:
        return
    if source.tell() == len(data) and isinstance(record, dict):
        validate_lead(record)


def _without_logical_types(schema: Any) -> Any:
    """A parsed schema read as its underlying types (a timestamp as its long)."""
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema


def _body_error(error: Exception, schema: SchemaName, exhausted: bool) -> DecodeError:
    """The reason fastavro failed to read a body, from its exception and where it stopped.

    A body that ends too soon fails with ``EOFError`` inside a string or bytes value, but with
    ``IndexError`` inside a number; only when the reader had reached the end of the input is the
    latter a truncation rather than, say, a union branch that does not exist.
    """
    if isinstance(error, EOFError) or (exhausted and isinstance(error, IndexError)):
        return DecodeError("truncated", f"the {schema} body ends before the record does")
    if isinstance(error, SchemaResolutionError):
        return DecodeError("schema-mismatch", f"cannot read as {schema}: {error}")
    return DecodeError(
        "invalid-avro", f"not a valid {schema} body: {type(error).__name__}: {error}"
    )


def _local_name(name: str) -> str:
    """A type's name without its namespace: Avro's schema resolution matches records by it."""
    return name.rpartition(".")[2]


class Encoder:
    """Writes records of one schema for fixed topics: each topic paired with its schema once.

    ``encode`` gives one value per topic, in the order of ``topics``: the body is written once and
    only the header, which can differ by topic in registry framing, is per topic. The headers are
    looked up at the first ``encode`` (the registry may have to register the schema, and may be
    down), then kept.
    """

    __slots__ = ("_codec", "_headers", "schema", "topics")

    def __init__(self, codec: Codec, schema: SchemaName, topics: tuple[str, ...]) -> None:
        self._codec = codec
        self.schema: SchemaName = schema
        self.topics = topics
        self._headers: tuple[bytes, ...] | None = None

    def encode(
        self, record: Mapping[str, Any], encoded: Mapping[str, bytes] | None = None
    ) -> list[bytes]:
        """``Codec.encode`` of ``record`` for each of ``topics``; raises ``EncodeError`` alike."""
        body = self._codec._body(self.schema, record, encoded)
        headers = self._headers
        if headers is None:
            headers = tuple(self._codec._header(topic, self.schema) for topic in self.topics)
            self._headers = headers
        return [header + body for header in headers]
