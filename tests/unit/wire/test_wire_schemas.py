"""The .avsc files: documented, each type defined once, loaded and fingerprinted as Avro says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import parse_schema, to_parsing_canonical_form

from processor.wire import NAMESPACE, SCHEMA_NAMES, load_schemas
from processor.wire.schemas import canonical_fingerprint, parse_writer_schema

SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"
AVSC_FILES = sorted(SCHEMAS_DIR.glob("*.avsc"))


def _named_definitions(schema: Any) -> Iterator[dict[str, Any]]:
    """Every named type defined (not merely referred to) in a schema file."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _named_definitions(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for field in schema.get("fields", ()):
            yield from _named_definitions(field["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from _named_definitions(schema[key])


def _documented(schema: Any, path: str) -> Iterator[str]:
    """Paths of the named types and fields that lack a non-empty doc."""
    for definition in _named_definitions(schema):
        where = f"{path}:{definition['name']}"
        if not str(definition.get("doc", "")).strip():
            yield where
        for field in definition.get("fields", ()):
            if not str(field.get("doc", "")).strip():
                yield f"{where}.{field['name']}"


def test_the_package_reads_the_top_level_schemas_folder() -> None:
    packaged = files("processor.wire") / "avsc"
    assert sorted(p.name for p in packaged.iterdir() if p.name.endswith(".avsc")) == [
        p.name for p in AVSC_FILES
    ]
    for path in AVSC_FILES:
        assert (packaged / path.name).read_text(encoding="utf-8") == path.read_text("utf-8")


@pytest.mark.parametrize("path", AVSC_FILES, ids=lambda p: p.name)
def test_every_type_and_field_has_a_doc(path: Path) -> None:
    assert list(_documented(json.loads(path.read_text("utf-8")), path.name)) == []


@pytest.mark.parametrize("path", AVSC_FILES, ids=lambda p: p.name)
def test_each_file_defines_the_type_it_is_named_for_in_our_namespace(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    assert schema["name"] == path.stem
    assert schema["namespace"] == NAMESPACE


def test_no_named_type_is_defined_twice() -> None:
    names = [
        definition["name"]
        for path in AVSC_FILES
        for definition in _named_definitions(json.loads(path.read_text("utf-8")))
    ]
    assert len(names) == len(set(names)), names


def test_every_record_schema_loads_with_the_types_it_refers_to() -> None:
    schemas = load_schemas()
    assert set(schemas) == set(SCHEMA_NAMES)
    delivery = {field["name"]: field["type"] for field in schemas["LeadDelivery"].parsed["fields"]}
    assert delivery["lead"]["name"] == f"{NAMESPACE}.LeadSubmitted"
    assert delivery["geo"][1]["name"] == f"{NAMESPACE}.Geo"
    assert delivery["tier"]["name"] == f"{NAMESPACE}.Tier"


def test_only_lead_id_submitted_at_and_site_id_are_required_in_a_lead() -> None:
    fields = load_schemas()["LeadSubmitted"].parsed["fields"]
    required = [field["name"] for field in fields if "default" not in field]
    assert required == ["lead_id", "submitted_at", "site_id"]
    for field in fields:
        if "default" in field:
            assert field["default"] is None
            assert field["type"][0] == "null"


@pytest.mark.parametrize(
    ("schema", "fingerprint"),
    [
        # Test vectors of the Avro specification (share/test/data/schema-tests.txt), given there
        # as Java's signed 64-bit value.
        ("null", 7195948357588979594),
        ("boolean", -6970731678124411036),
        ({"type": "fixed", "name": "foo", "size": 15}, 1756455273707447556),
    ],
)
def test_fingerprints_follow_the_avro_specification(schema: Any, fingerprint: int) -> None:
    assert canonical_fingerprint(parse_schema(schema)) == fingerprint % 2**64


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_registered_text_is_the_same_schema_with_its_docs(name: str) -> None:
    schema = load_schemas()[name]
    text = json.loads(schema.text)
    assert "__fastavro_parsed" not in schema.text
    assert text["doc"]
    assert to_parsing_canonical_form(parse_schema(text)) == to_parsing_canonical_form(schema.parsed)
    assert canonical_fingerprint(parse_schema(text)) == schema.fingerprint


@pytest.mark.parametrize(
    "items",
    [
        "null",
        {"type": "record", "name": "Nothing", "fields": []},
        {"type": "record", "name": "Nulls", "fields": [{"name": "a", "type": "null"}]},
        {"type": "fixed", "name": "Empty", "size": 0},
    ],
)
def test_a_writer_schema_with_an_array_of_zero_width_items_is_refused(items: Any) -> None:
    schema = {
        "type": "record",
        "name": "LeadSubmitted",
        "fields": [{"name": "spin", "type": ["null", {"type": "array", "items": items}]}],
    }
    with pytest.raises(ValueError, match="zero-width"):
        parse_writer_schema(schema)


@pytest.mark.parametrize(
    "items",
    [
        "string",
        ["null", "string"],
        {"type": "enum", "name": "One", "symbols": ["only"]},
        {
            "type": "record",
            "name": "Pair",
            "fields": [{"name": "a", "type": "null"}, {"name": "b", "type": "int"}],
        },
    ],
)
def test_arrays_whose_items_take_bytes_are_accepted(items: Any) -> None:
    schema = {
        "type": "record",
        "name": "LeadSubmitted",
        "fields": [{"name": "list", "type": {"type": "array", "items": items}}],
    }
    assert parse_writer_schema(schema).name == "LeadSubmitted"


def test_a_zero_width_type_defined_earlier_and_named_later_is_refused() -> None:
    schema = {
        "type": "record",
        "name": "LeadSubmitted",
        "fields": [
            {"name": "first", "type": {"type": "record", "name": "Void", "fields": []}},
            {"name": "many", "type": {"type": "array", "items": "Void"}},
        ],
    }
    with pytest.raises(ValueError, match="zero-width"):
        parse_writer_schema(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "Broken", "fields": [{"name": "a", "type": "no-such-type"}]},
        {"type": "record"},
        "string",
    ],
)
def test_a_writer_schema_that_is_not_an_avro_record_is_refused(schema: Any) -> None:
    with pytest.raises(ValueError):
        parse_writer_schema(schema)
