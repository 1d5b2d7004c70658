"""lead-router's Avro schemas, loaded once from ``schemas/`` and ready for both framings.

Each ``.avsc`` file holds one named type and refers to the others by name (``LeadDelivery`` carries
a ``LeadSubmitted`` and a ``Geo``), so every type is written once. fastavro's ``load_schema``
resolves those names file by file through ``_SchemaFolder``, which maps a full name such as
``io.leadrouter.Geo`` to ``Geo.avsc``.

Every released version of each schema is kept in ``schemas/history/`` as ``<name>.v<n>.avsc``,
self-contained (each named type written out where it is first used, as it was in that release), so
that records written by a publisher that has not upgraded yet are still read: their fingerprint
names one of these, and Avro schema resolution reads them as the current version. The newest
version there is always the current file.

The files are the top-level ``schemas/`` folder of the repository, the one publishers read. The
package reaches them as ``processor/wire/avsc``, a symbolic link to that folder, so that
setuptools' package discovery ships them in the wheel as package data and an editable install reads
the repository's own files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, cast, get_args

from fastavro.repository.base import AbstractSchemaRepository, SchemaRepositoryError
from fastavro.schema import fingerprint, load_schema, parse_schema, to_parsing_canonical_form
from fastavro.types import NamedSchemas, Schema

from processor.errors import InvalidInput

NAMESPACE = "io.leadrouter"
"""The Avro namespace of every lead-router type."""

SchemaName = Literal[
    "LeadSubmitted",
    "LeadDelivery",
    "RoutingDecision",
    "Geo",
    "DeliveryReceipt",
    "LeadMatched",
    "DeliveryReturn",
]
"""The record types lead-router reads and writes, by their names in ``NAMESPACE``."""

SCHEMA_NAMES: tuple[SchemaName, ...] = get_args(SchemaName)

HISTORY_FOLDER = "history"
"""The folder of ``schemas/`` that keeps every released version of each schema."""

_HISTORY_FILE = re.compile(r"(?P<name>[A-Za-z]+)\.v(?P<version>[1-9][0-9]*)\.avsc")

_PARSER_MARKERS = ("__fastavro_parsed", "__named_schemas")
"""Keys fastavro adds to a parsed schema; they are not Avro and must not reach a registry."""

_NON_EMPTY_PRIMITIVES = frozenset(("boolean", "int", "long", "float", "double", "bytes", "string"))
"""Primitive types whose encoding takes at least one byte (everything but ``null``)."""


@dataclass(frozen=True, slots=True)
class WireSchema:
    """One writer schema, with what each framing needs of it precomputed.

    ``fingerprint`` is the CRC-64-AVRO fingerprint of the schema's parsing canonical form, read as
    the little-endian unsigned integer that single-object encoding carries. ``text`` is the full
    schema as JSON (docs and defaults included, every named type defined where first used): what
    is registered in a schema registry.
    """

    name: str
    parsed: Schema
    fingerprint: int
    text: str


def canonical_fingerprint(parsed: Schema) -> int:
    """The CRC-64-AVRO fingerprint of a parsed schema's parsing canonical form."""
    digest = fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")
    return int.from_bytes(bytes.fromhex(digest), "little")


def wire_schema(parsed: Schema) -> WireSchema:
    """A parsed schema (``parse_schema`` or ``load_schema``) with its fingerprint and JSON text."""
    if not isinstance(parsed, dict):
        raise ValueError("a wire schema is a named record, not a union or a primitive")
    plain = {key: value for key, value in parsed.items() if key not in _PARSER_MARKERS}
    return WireSchema(
        name=str(parsed["name"]),
        parsed=parsed,
        fingerprint=canonical_fingerprint(parsed),
        text=json.dumps(plain, separators=(",", ":")),
    )


def parse_writer_schema(schema: Any, named: NamedSchemas | None = None) -> WireSchema:
    """A writer schema from outside (a registry, an earlier version), parsed and checked.

    ``named`` holds named types the schema refers to (a registry's schema references). Raises
    ``ValueError`` when the schema is not a valid Avro record schema, or when it could make a
    reader loop without consuming input (see ``_repeats_zero_width``).
    """
    try:
        parsed = parse_schema(schema, named if named is not None else {})
    except Exception as error:  # fastavro raises several types for a bad schema
        raise ValueError(f"not a valid Avro schema: {error}") from error
    if _repeats_zero_width(parsed):
        raise ValueError("an array of zero-width items (null, an empty record) is not accepted")
    return wire_schema(parsed)


@cache
def load_schemas() -> Mapping[SchemaName, WireSchema]:
    """Every lead-router schema, parsed once per process."""
    repository = _SchemaFolder(files("processor.wire") / "avsc")
    return {
        name: wire_schema(load_schema(f"{NAMESPACE}.{name}", repo=repository))
        for name in SCHEMA_NAMES
    }


MAX_WRITER_SCHEMA_BYTES = 1_000_000
"""The largest writer schema file ``load_writer_schemas`` reads; ours are under 20 kB."""


def load_writer_schemas(folder: Path) -> list[Any]:
    """The writer schemas in ``folder`` (its ``*.avsc`` files), each checked, as JSON values.

    Each must be a self-contained Avro record schema of one of lead-router's types (matched by
    name without namespace, as schema resolution does). Raises ``InvalidInput`` naming the file
    and what is wrong with it: the processor refuses to start rather than dead-letter leads.
    """
    if not folder.is_dir():
        raise InvalidInput(f"writer schemas: {folder} is not a folder")
    return [_writer_schema_file(path) for path in sorted(folder.glob("*.avsc"))]


def _writer_schema_file(path: Path) -> Any:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_WRITER_SCHEMA_BYTES + 1)
    except OSError as error:
        raise InvalidInput(f"writer schema {path}: cannot read it: {error.strerror}") from error
    if len(data) > MAX_WRITER_SCHEMA_BYTES:
        raise InvalidInput(f"writer schema {path}: larger than {MAX_WRITER_SCHEMA_BYTES} bytes")
    try:
        schema = json.loads(data)
        name = parse_writer_schema(schema).name
    except RecursionError:
        raise InvalidInput(f"writer schema {path}: nested too deeply") from None
    except ValueError as error:  # not UTF-8, not JSON, not an Avro record schema
        raise InvalidInput(f"writer schema {path}: {str(error)[:300]}") from None
    if name.rpartition(".")[2] not in SCHEMA_NAMES:
        raise InvalidInput(
            f"writer schema {path}: a record lead-router does not read; it reads "
            + ", ".join(SCHEMA_NAMES)
        )
    return schema


@cache
def load_history() -> Mapping[SchemaName, tuple[WireSchema, ...]]:
    """Every released version of each schema, oldest first, parsed once per process."""
    found: dict[SchemaName, dict[int, WireSchema]] = {name: {} for name in SCHEMA_NAMES}
    for entry in (files("processor.wire") / "avsc" / HISTORY_FOLDER).iterdir():
        match = _HISTORY_FILE.fullmatch(entry.name)
        if match is None or match["name"] not in found:
            continue
        schema = parse_writer_schema(json.loads(entry.read_text(encoding="utf-8")))
        found[cast(SchemaName, match["name"])][int(match["version"])] = schema
    return {name: tuple(v for _, v in sorted(versions.items())) for name, versions in found.items()}


class _SchemaFolder(AbstractSchemaRepository):
    """fastavro's view of ``schemas/``: the type ``io.leadrouter.X`` is the file ``X.avsc``."""

    def __init__(self, folder: Traversable) -> None:
        self._folder = folder

    def load(self, name: str) -> Any:
        namespace, _, local = name.rpartition(".")
        if namespace != NAMESPACE:
            raise SchemaRepositoryError(f"{name} is not in the {NAMESPACE} namespace")
        try:
            return json.loads((self._folder / f"{local}.avsc").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SchemaRepositoryError(f"cannot load {local}.avsc: {error}") from error


def _repeats_zero_width(parsed: Schema) -> bool:
    """Whether the schema has an array whose items take no bytes.

    Avro encodes an array as a count followed by the items, and a reader trusts the count: with
    items of zero width (null, a record of nulls) a few bytes can claim 2**62 items and keep the
    reader busy for ever. Every other repeated item takes at least one byte, so a reader runs out
    of input first. lead-router's own schemas have no such array; a writer schema that does is
    refused.
    """
    named: NamedSchemas = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    return any(
        node.get("type") == "array" and _zero_width(node["items"], named, frozenset())
        for node in _nodes(parsed, named, set())
    )


def _nodes(schema: Schema, named: NamedSchemas, seen: set[str]) -> Iterator[dict[str, Any]]:
    """Every complex type in a schema, each named type once."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _nodes(branch, named, seen)
    elif isinstance(schema, str):
        if schema in named and schema not in seen:
            seen.add(schema)
            yield from _nodes(named[schema], named, seen)
    elif isinstance(schema, dict):
        yield schema
        kind = schema.get("type")
        if kind in ("record", "error"):
            seen.add(str(schema["name"]))
            for field in schema["fields"]:
                yield from _nodes(field["type"], named, seen)
        elif kind == "array":
            yield from _nodes(schema["items"], named, seen)
        elif kind == "map":
            yield from _nodes(schema["values"], named, seen)


def _zero_width(schema: Schema, named: NamedSchemas, expanding: frozenset[str]) -> bool:
    """Whether every value of the type encodes to no bytes at all.

    ``expanding`` holds the named types being looked into, so that a recursive type (which needs a
    union, and so a byte, to end) is not followed round for ever.
    """
    if isinstance(schema, list):
        return False  # a union always writes its branch index
    if isinstance(schema, str):
        if schema == "null":
            return True
        if schema in _NON_EMPTY_PRIMITIVES or schema in expanding or schema not in named:
            return False
        return _zero_width(named[schema], named, expanding | {schema})
    kind = schema["type"]
    if kind in ("record", "error"):
        inner = expanding | {str(schema["name"])}
        return all(_zero_width(field["type"], named, inner) for field in schema["fields"])
    if kind == "fixed":
        return bool(schema["size"] == 0)
    if kind in ("array", "map", "enum"):
        return False  # a count or an index always takes a byte
    return _zero_width(kind, named, expanding)
