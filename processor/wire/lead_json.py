"""The contract's JSON lead, to and from the ``LeadSubmitted`` record the stream carries.

``dry-run`` reads JSON lines and the processor reads Avro; both must route a lead the same way, so
a JSON lead becomes exactly the record that decoding its Avro encoding gives: every field present
(absent ones null), ``submitted_at`` an aware UTC datetime truncated to milliseconds, custom field
values typed as Avro would carry them (a JSON integer a ``long``, any other number a ``double``).

The conversion is compiled from the ``LeadSubmitted`` schema itself, so the JSON form cannot drift
from the Avro one: a field added to the schema is accepted in JSON without a change here. Keys the
schema does not have are refused, so that a misspelt field is reported rather than ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastavro.types import Schema

from processor.wire.errors import InvalidLead
from processor.wire.lead import validate_lead
from processor.wire.schemas import load_schemas

_INT_RANGE = range(-(2**31), 2**31)
_LONG_RANGE = range(-(2**63), 2**63)
_REQUIRED_BY_CONTRACT = ("lead_id", "site_id", "submitted_at")
"""The fields ``validate_lead`` requires, whatever the schema says."""
_REQUIRED = object()
"""Marks a record field without a default: JSON must give it."""


def lead_from_json(document: object) -> dict[str, Any]:
    """The ``LeadSubmitted`` record for a lead parsed from JSON; ``InvalidLead`` names the field.

    ``submitted_at`` is an ISO-8601 string, with ``Z``, an offset, or neither (read as UTC).
    """
    lead_id = document.get("lead_id") if isinstance(document, Mapping) else None
    readable_id = lead_id if isinstance(lead_id, str) and lead_id.strip() else None
    if isinstance(document, Mapping) and any(
        document.get(name) is None for name in _REQUIRED_BY_CONTRACT
    ):
        # Absent or null where the contract wants a value: what a decoded lead with a null there
        # is refused for, in the same words, rather than the schema's "missing".
        validate_lead({name: document.get(name) for name in _REQUIRED_BY_CONTRACT})
    try:
        record = _lead_converter().convert(document, "")
    except _Problem as problem:
        raise InvalidLead(problem.path or "lead", problem.text, lead_id=readable_id) from None
    return validate_lead(record)


def lead_to_json(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's JSON form of a ``LeadSubmitted`` record (nested objects are shared).

    ``submitted_at`` becomes ISO-8601 in UTC with milliseconds, e.g. ``2024-05-01T12:00:00.000Z``.
    """
    return {**lead, "submitted_at": format_timestamp(lead["submitted_at"])}


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``; a naive datetime is taken to be UTC."""
    return _as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime, as Avro's writers take it, is UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Problem(Exception):
    """Where a JSON lead departs from the schema; becomes an ``InvalidLead``."""

    def __init__(self, path: str, text: str) -> None:
        super().__init__(path, text)
        self.path = path
        self.text = text


@dataclass(frozen=True, slots=True)
class _Converter:
    """How one schema type takes a JSON value: which JSON kinds it accepts, and how."""

    kinds: frozenset[str]
    expected: str
    convert: Callable[[Any, str], Any]


def _kind(value: object) -> str:
    """The JSON kind of a value, as messages name it (never the value: it may be personal)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _checked(converter: _Converter) -> _Converter:
    """The converter, refusing JSON kinds it does not accept with a message naming the path."""

    def convert(value: Any, path: str) -> Any:
        if _kind(value) not in converter.kinds:
            raise _Problem(path, f"expected {converter.expected}, got {_article(_kind(value))}")
        return converter.convert(value, path)

    return _Converter(converter.kinds, converter.expected, convert)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


@cache
def _lead_converter() -> _Converter:
    return _compile(load_schemas()["LeadSubmitted"].parsed)


def _compile(schema: Schema) -> _Converter:
    if isinstance(schema, list):
        return _union([_compile(branch) for branch in schema])
    if isinstance(schema, str):
        if schema not in _PRIMITIVES:
            raise TypeError(f"JSON leads have no conversion for the Avro type {schema}")
        return _checked(_PRIMITIVES[schema])
    if schema.get("logicalType") == "timestamp-millis":
        return _checked(_Converter(frozenset({"string"}), "an ISO-8601 timestamp", _timestamp))
    kind = schema["type"]
    if kind == "record":
        return _checked(_record(schema))
    if kind == "map":
        values = _compile(schema["values"])
        return _checked(
            _Converter(
                frozenset({"object"}),
                "an object",
                lambda value, path: {
                    key: values.convert(item, f"{path}.{key}") for key, item in value.items()
                },
            )
        )
    return _compile(kind)


def _union(branches: list[_Converter]) -> _Converter:
    """The first branch that accepts the value's JSON kind takes it, as Avro's writer would."""
    by_kind: dict[str, _Converter] = {}
    for branch in branches:
        for kind in branch.kinds:
            by_kind.setdefault(kind, branch)

    def convert(value: Any, path: str) -> Any:
        return by_kind[_kind(value)].convert(value, path)

    *others, last = [branch.expected for branch in branches]
    expected = f"{', '.join(others)} or {last}" if others else last
    return _checked(_Converter(frozenset(by_kind), expected, convert))


def _record(schema: dict[str, Any]) -> _Converter:
    fields = [
        (field["name"], _compile(field["type"]), field.get("default", _REQUIRED))
        for field in schema["fields"]
    ]
    names = frozenset(name for name, _, _ in fields)

    def convert(value: Mapping[str, Any], path: str) -> dict[str, Any]:
        prefix = f"{path}." if path else ""
        unknown = sorted(str(key) for key in value if key not in names)
        if unknown:
            raise _Problem(prefix + unknown[0], "not a field of the lead")
        record: dict[str, Any] = {}
        for name, converter, default in fields:
            if name in value:
                record[name] = converter.convert(value[name], prefix + name)
            elif default is _REQUIRED:
                raise _Problem(prefix + name, "missing")
            else:
                record[name] = default
        return record

    return _Converter(frozenset({"object"}), "an object", convert)


def _integer(bounds: range) -> Callable[[Any, str], Any]:
    def convert(value: int, path: str) -> int:
        if value not in bounds:
            raise _Problem(path, "out of range")
        return value

    return convert


def _timestamp(value: str, path: str) -> datetime:
    try:
        utc = _as_utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        raise _Problem(path, "expected an ISO-8601 timestamp") from None
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def _double(value: float, path: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double's range
        raise _Problem(path, "out of range") from None


def _same(value: Any, path: str) -> Any:
    return value


_PRIMITIVES: dict[str, _Converter] = {
    "null": _Converter(frozenset({"null"}), "null", _same),
    "boolean": _Converter(frozenset({"boolean"}), "a boolean", _same),
    "int": _Converter(frozenset({"integer"}), "an integer", _integer(_INT_RANGE)),
    "long": _Converter(frozenset({"integer"}), "an integer", _integer(_LONG_RANGE)),
    "double": _Converter(frozenset({"integer", "number"}), "a number", _double),
    "string": _Converter(frozenset({"string"}), "a string", _same),
}
