"""Hypothesis strategies of the values a parsed Avro schema holds, built from the schema itself.

Every value is one fastavro writes: records as dicts (a field with a default, or nullable, is
sometimes left out), arrays as lists, maps as dicts, timestamps as aware datetimes of several
offsets or as ints, doubles as floats (NaN and infinities too) or ints, some beyond a long's range.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INTS = st.integers(min_value=-(2**31), max_value=2**31 - 1)
DOUBLES = st.floats() | st.integers(min_value=-(2**70), max_value=2**70)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": INTS,
    "long": LONGS,
    "double": DOUBLES,
    "string": st.text(max_size=12),
    "bytes": st.binary(max_size=12),
}


def values(schema: Any, named: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values of ``schema``, a parsed schema; ``named`` defaults to its named types."""
    if named is None:
        named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    if isinstance(schema, list):
        return st.one_of([values(branch, named) for branch in schema])
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        return values(named[schema], named)
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return MOMENTS | LONGS
    if kind == "record":
        return _record(schema, named)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), values(schema["values"], named), max_size=3)
    return values(kind, named)


def _record(schema: dict[str, Any], named: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in schema["fields"]:
        kind = field["type"]
        may_be_left_out = "default" in field or (isinstance(kind, list) and "null" in kind)
        (optional if may_be_left_out else required)[field["name"]] = values(kind, named)
    return st.fixed_dictionaries(required, optional=optional)
