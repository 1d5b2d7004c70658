"""Released schema versions: kept, compatible both ways, and read by the codec.

``schemas/history/`` keeps every version of each schema that was ever released. The compatibility
rule (docs/wire.md) is the one a registry enforces as FULL_TRANSITIVE: data written with any kept
version is read by any other, older or newer. ``tests/fixtures/writer-schemas`` simulates a
publisher one version behind (``LeadSubmitted.v0``: one optional field fewer) and one ahead
(``LeadSubmitted.v2``: one optional field more); they hold to the same rule.
"""

from __future__ import annotations

import itertools
import json
import random
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from processor.errors import InvalidInput
from processor.wire import SCHEMA_NAMES, Codec, DecodeError, SchemaName, load_schemas
from processor.wire.framing import single_object_header
from processor.wire.schemas import (
    HISTORY_FOLDER,
    WireSchema,
    load_history,
    load_writer_schemas,
    parse_writer_schema,
)

ROOT = Path(__file__).resolve().parents[3]
HISTORY = ROOT / "schemas" / HISTORY_FOLDER
FIXTURES = ROOT / "tests" / "fixtures" / "writer-schemas"
TOPIC = "leads.submitted"
SAMPLES = 200
"""Random records per pair of versions: enough to take every union branch many times."""

NEW_SYMBOLS = {
    **{
        (f"RoutingDecision.v{newer}", "RoutingDecision.v1"): ("outcome", {"duplicate"})
        for newer in (2, 3, 4)
    },
    ("DeliveryReceipt.v2", "DeliveryReceipt.v1"): (
        "status",
        {"retrying", "reoffered", "returned", "return_refused"},
    ),
}
"""The documented exceptions to forward compatibility (docs/wire.md): enum symbols added in a
version, which a reader of an older version without an enum default cannot read. Every other
record still reads both ways."""


def fixtures() -> dict[str, WireSchema]:
    return {
        path.stem: parse_writer_schema(json.loads(path.read_text()))
        for path in sorted(FIXTURES.glob("*.avsc"))
    }


def versions(name: SchemaName) -> list[tuple[str, WireSchema]]:
    """The kept versions of ``name``, and for LeadSubmitted the simulated ones around them."""
    kept = [(f"{name}.v{n}", schema) for n, schema in enumerate(load_history()[name], 1)]
    simulated = [(k, v) for k, v in fixtures().items() if k.startswith(f"{name}.")]
    return kept + simulated


def defaults(schema: WireSchema) -> dict[str, Any]:
    """The schema's fields, each with its default (None when it has none)."""
    parsed: Any = schema.parsed
    return {field["name"]: field.get("default") for field in parsed["fields"]}


def without_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: without_docs(v) for k, v in schema.items() if k != "doc"}
    if isinstance(schema, list):
        return [without_docs(item) for item in schema]
    return schema


def single_object(schema: WireSchema, record: dict[str, Any]) -> bytes:
    sink = BytesIO()
    schemaless_writer(sink, schema.parsed, record)
    return single_object_header(schema.fingerprint) + sink.getvalue()


def test_every_history_file_is_a_numbered_version_of_a_schema_we_read() -> None:
    names = sorted(path.name for path in HISTORY.iterdir())
    expected = sorted(
        f"{name}.v{n}.avsc"
        for name in SCHEMA_NAMES
        for n in range(1, len(load_history()[name]) + 1)
    )
    assert names == expected, "every file is <name>.v<n>.avsc, numbered from 1 without gaps"
    for name, kept in load_history().items():
        assert kept, f"{name} has no released version"
        assert all(schema.name.rpartition(".")[2] == name for schema in kept)
        assert len({schema.fingerprint for schema in kept}) == len(kept), f"{name}: a repeat"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_newest_kept_version_is_the_current_schema(name: SchemaName) -> None:
    """A change to ``schemas/<name>.avsc`` must be kept as a new version when it is released
    (docs aside, which change neither the bytes nor their resolution)."""
    newest = load_history()[name][-1]
    current = load_schemas()[name]
    assert newest.fingerprint == current.fingerprint, (
        f"schemas/{name}.avsc differs from its newest version in schemas/history: add it as "
        f"{name}.v{len(load_history()[name]) + 1}.avsc (self-contained, as load_schemas gives it)"
    )
    assert without_docs(json.loads(newest.text)) == without_docs(json.loads(current.text))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_pair_of_versions_reads_each_others_records(name: SchemaName) -> None:
    """FULL_TRANSITIVE: each version reads what every other wrote (backward: the newer reads the
    older; forward: the older reads the newer); fields the reader lacks are dropped, fields the
    writer lacked take their defaults, every other field keeps its value."""
    for (writer_name, writer), (reader_name, reader) in itertools.permutations(versions(name), 2):
        random.seed(f"{writer_name} {reader_name}")
        for record in generate_many(writer.parsed, SAMPLES):
            sink = BytesIO()
            schemaless_writer(sink, writer.parsed, record)
            sink.seek(0)
            as_written = schemaless_reader(sink, writer.parsed, None)
            sink.seek(0)
            assert isinstance(as_written, dict)
            field, symbols = NEW_SYMBOLS.get((writer_name, reader_name), ("", set()))
            symbol = as_written.get(field)
            if symbol in symbols:
                with pytest.raises(Exception, match=str(symbol)):
                    schemaless_reader(sink, writer.parsed, reader.parsed)
                continue
            as_read = schemaless_reader(sink, writer.parsed, reader.parsed)
            expected = {
                field: as_written.get(field, default) for field, default in defaults(reader).items()
            }
            assert as_read == expected, f"{writer_name} read as {reader_name}"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_records_of_every_released_version_decode_as_the_current_schema(
    name: SchemaName, records: dict[SchemaName, dict[str, Any]]
) -> None:
    """A record written by a publisher (or a lead-router) of any release is read, not
    dead-lettered; LeadDelivery.v1 has no payload, which reads as null."""
    for schema in load_history()[name]:
        written = {k: v for k, v in records[name].items() if k in defaults(schema)}
        decoded = Codec().decode(TOPIC, single_object(schema, written), name)
        current = defaults(load_schemas()[name])
        assert decoded == {field: written.get(field, default) for field, default in current.items()}


@pytest.mark.parametrize("version", ["LeadSubmitted.v0", "LeadSubmitted.v2"])
def test_a_lead_of_an_unreleased_version_is_read_once_its_schema_is_given(
    version: str, lead: dict[str, Any]
) -> None:
    """One version behind or ahead of what lead-router ships: without the writer schema the
    fingerprint is unknown; given it (WRITER_SCHEMAS_DIR), the lead is read as the current one."""
    writer = fixtures()[version]
    written = {k: v for k, v in lead.items() if k != "offer_id"} if version.endswith("v0") else lead
    data = single_object(writer, {**written, "utm_source": "newsletter"})

    with pytest.raises(DecodeError) as refused:
        Codec().decode(TOPIC, data)
    assert refused.value.reason == "unknown-fingerprint"
    codec = Codec(writer_schemas=load_writer_schemas(FIXTURES))
    assert codec.decode(TOPIC, data) == {**lead, "offer_id": written.get("offer_id")}


def test_writer_schema_files_that_are_not_ours_are_refused_by_name(tmp_path: Path) -> None:
    cases = {
        "not-json.avsc": b"{",
        "nested.avsc": b"[" * 100_000,
        "not-avro.avsc": b'{"type": "record"}',
        "other.avsc": json.dumps(
            {"type": "record", "name": "com.acme.Order", "fields": []}
        ).encode(),
        "huge.avsc": b" " * 1_000_001,
    }
    for file, content in cases.items():
        folder = tmp_path / file.removesuffix(".avsc")
        folder.mkdir()
        (folder / file).write_bytes(content)
        with pytest.raises(InvalidInput) as refused:
            load_writer_schemas(folder)
        assert file in str(refused.value)
    with pytest.raises(InvalidInput, match="not a folder"):
        load_writer_schemas(tmp_path / "missing")
