"""A writer of Avro bodies compiled from a parsed schema: the common case of encoding, fast.

fastavro's writer interprets the schema afresh for every value, and picks each union's branch by
validating the value against the branches one by one: a delivery cost about seventy microseconds
to encode, the audit record thirty. :func:`compile_writer` writes one Python function per schema
instead, as ``compile_reader`` does for reading: straight-line code that appends the body to a
``bytearray``, with a branch per union chosen from the value's type. (The code is generated from
the schema's types alone; names and defaults reach it only as ``repr`` literals or constants.)
Appending to one ``bytearray`` was measured against collecting ``bytes`` pieces in a list and
joining them at the end: the list was about a tenth slower.

It writes fastavro's bytes, for the values it is sure of only: plain ``dict`` records, ``list``
arrays (or ``tuple``, except as a union's value: fastavro reads a tuple there as a branch's name
and a value), ``dict`` maps with string keys, ``str``, ``bytes``, ``bool``, ``int`` within
the type's range, ``float`` (or ``int``) doubles, enum symbols, and timezone-aware ``datetime``
timestamps. For anything else (another type, a union value that fits no branch, a missing field
without a default, a record carrying fastavro's ``-type`` key) it raises :class:`Unwritable` or
the error Python gives (``KeyError``, ``ValueError``, ``OverflowError``), and the caller writes the
record again with fastavro, which either accepts it after all (a float in an int field's place,
a naive datetime) or says what is wrong. A schema with a type it does not know (fixed, float,
logical types other than ``timestamp-millis``, recursive types) compiles to None.

A union's branch is the one fastavro would choose: it takes the first branch that validates the
value (an ``int`` fits ``int`` within 32 bits, ``long`` within 64, ``double`` always; a string an
enum only when it is one of its symbols), so the generated code tries the branches that can hold
a value of its Python type in the union's order, with the same range and symbol tests. A branch
whose test would mean validating a whole record, map or array is taken only when no later branch
can hold such a value (otherwise the value is left to fastavro), since the writer then raises
whenever fastavro's validation would refuse it.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Write = Callable[[bytearray, Any], None]
"""Appends the body of one value to a buffer."""

WRITE_ERRORS = (KeyError, ValueError, OverflowError)
"""What a compiled writer raises for a value it cannot write, besides :class:`Unwritable`: a
missing field (``KeyError``), text with a lone surrogate (``UnicodeEncodeError``, a
``ValueError``), an integer too large for a double (``OverflowError``)."""

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)

_PYTHON_TYPES = {
    "none": "NoneType",
    "bool": "bool",
    "int": "int",
    "float": "float",
    "str": "str",
    "bytes": "bytes",
    "dict": "dict",
    "list": "list",
    "datetime": "datetime",
}
"""The Python types a union value may have, by the name the generated code tests it under."""

_BRANCH_KINDS = frozenset(
    {"null", "boolean", "int", "long", "double", "string", "bytes"}
    | {"record", "map", "array", "enum"}
)
"""The types a compiled union's branch may have."""

_UNSURE = "unsure"
"""A branch's test that only writing the value can make: a record, map or array."""


class Unwritable(Exception):
    """The value is not one this writer is sure to write as fastavro does."""


class _Unknown(Exception):
    """A schema with a type this writer does not compile."""


def compile_writer(schema: object) -> Write | None:
    """A writer of values of ``schema`` (as ``fastavro.parse_schema`` gives it), or None when
    the schema has a type only fastavro writes."""
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    source = _Source(named)
    try:
        source.value(schema, "value", 1, frozenset())
    except _Unknown:
        return None
    code = "\n".join(["def write(out, value):", *source.lines])
    scope: dict[str, Any] = {
        **source.constants,
        "_long": _long,
        "Unwritable": Unwritable,
        "_DOUBLE": struct.Struct("<d").pack,
        "_EPOCH": datetime(1970, 1, 1, tzinfo=UTC),
        "_MILLISECOND": timedelta(milliseconds=1),
        "NoneType": type(None),
        "datetime": datetime,
    }
    exec(compile(code, "<avro writer>", "exec"), scope)
    write: Write = scope["write"]
    return write


def _long(out: bytearray, value: int, low: int, high: int) -> None:
    """A zigzag varint of a value in ``[low, high]``, as fastavro writes an int or a long."""
    if not low <= value <= high:
        raise Unwritable("an integer out of its type's range")
    n = (value << 1) ^ (value >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Source:
    """The lines of a writer's body: each type's code appends the value held in a variable."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self._named = named
        self._names: Iterator[int] = itertools.count()

    def _emit(self, depth: int, *lines: str) -> None:
        self.lines.extend("    " * depth + line for line in lines)

    def _fresh(self, stem: str) -> str:
        return f"{stem}{next(self._names)}"

    def _constant(self, value: object) -> str:
        name = self._fresh("_K")
        self.constants[name] = value
        return name

    def _resolve(self, schema: object, expanding: frozenset[str]) -> tuple[object, frozenset[str]]:
        """A named reference as the type it names (a recursive one is not compiled)."""
        if isinstance(schema, str) and schema in self._named:
            if schema in expanding:
                raise _Unknown(f"the recursive type {schema}")
            return self._named[schema], expanding | {schema}
        return schema, expanding

    def value(self, schema: object, var: str, depth: int, expanding: frozenset[str]) -> None:
        schema, expanding = self._resolve(schema, expanding)
        if isinstance(schema, list):
            self._union(schema, var, depth, expanding)
        elif isinstance(schema, dict):
            self._complex(schema, var, depth, expanding)
        elif isinstance(schema, str):
            self._primitive(schema, var, depth)
        else:
            raise _Unknown(type(schema).__name__)

    def _refuse(self, depth: int, test: str, why: str) -> None:
        self._emit(depth, f"if {test}:", f"    raise Unwritable({why!r})")

    def _primitive(self, kind: str, var: str, depth: int) -> None:
        if kind == "null":
            self._refuse(depth, f"{var} is not None", "null other than None")
        elif kind == "boolean":
            self._emit(
                depth,
                f"if {var} is True:",
                "    out.append(1)",
                f"elif {var} is False:",
                "    out.append(0)",
                "else:",
                "    raise Unwritable('a boolean other than True or False')",
            )
        elif kind in ("int", "long"):
            self._refuse(depth, f"type({var}) is not int", "an integer other than an int")
            self._long(var, _INT_RANGE if kind == "int" else _LONG_RANGE, depth)
        elif kind == "double":
            self._refuse(
                depth, f"type({var}) is not float and type({var}) is not int", "not a number"
            )
            self._emit(depth, f"out += _DOUBLE({var})")
        elif kind == "string":
            self._refuse(depth, f"type({var}) is not str", "a string other than a str")
            self._emit(depth, f"{var} = {var}.encode()")
            self._sized(var, depth)
        elif kind == "bytes":
            self._refuse(
                depth,
                f"type({var}) is not bytes and type({var}) is not bytearray",
                "bytes other than bytes or a bytearray",
            )
            self._sized(var, depth)
        else:
            raise _Unknown(kind)

    def _sized(self, var: str, depth: int) -> None:
        """Bytes after their length; a length below 64 is one byte (zigzag: twice the length)."""
        size = self._fresh("n")
        self._emit(
            depth,
            f"{size} = len({var})",
            f"if {size} < 64:",
            f"    out.append({size} << 1)",
            f"elif {size} < 8192:",
            f"    out.append(({size} << 1) & 0x7F | 0x80)",
            f"    out.append({size} >> 6)",
            "else:",
            f"    _long(out, {size}, 0, {_LONG_RANGE[1]})",
            f"out += {var}",
        )

    def _long(self, var: str, bounds: tuple[int, int], depth: int) -> None:
        """A varint of an int, its common one- and two-byte cases inline (every int type holds
        these); positions, counts and offsets below 8192 are most of the rest."""
        zigzag = self._fresh("z")
        self._emit(
            depth,
            f"if -64 <= {var} < 64:",
            f"    out.append(({var} << 1) ^ ({var} >> 63))",
            f"elif -8192 <= {var} < 8192:",
            f"    {zigzag} = ({var} << 1) ^ ({var} >> 63)",
            f"    out.append({zigzag} & 0x7F | 0x80)",
            f"    out.append({zigzag} >> 7)",
            "else:",
            f"    _long(out, {var}, {bounds[0]}, {bounds[1]})",
        )

    def _complex(
        self, schema: dict[str, Any], var: str, depth: int, expanding: frozenset[str]
    ) -> None:
        kind, logical = schema.get("type"), schema.get("logicalType")
        if logical is not None:
            if (kind, logical) != ("long", "timestamp-millis"):
                raise _Unknown(str(logical))
            self._timestamp(var, depth)
        elif kind == "record":
            self._record(schema, var, depth, expanding)
        elif kind == "enum":
            self._enum(schema, var, depth)
        elif kind == "array":
            self._refuse(
                depth,
                f"type({var}) is not list and type({var}) is not tuple",
                "an array other than a list or a tuple",
            )
            self._items(var, depth)
            item = self._fresh("item")
            self._emit(depth + 1, f"for {item} in {var}:")
            self.value(schema["items"], item, depth + 2, expanding)
            self._emit(depth, "out.append(0)")
        elif kind == "map":
            self._refuse(depth, f"type({var}) is not dict", "a map other than a dict")
            self._items(var, depth)
            key, item = self._fresh("key"), self._fresh("item")
            self._emit(depth + 1, f"for {key}, {item} in {var}.items():")
            self._primitive("string", key, depth + 2)
            self.value(schema["values"], item, depth + 2, expanding)
            self._emit(depth, "out.append(0)")
        else:
            self.value(kind, var, depth, expanding)

    def _items(self, var: str, depth: int) -> None:
        """Opens the one block fastavro writes for a non-empty array or map: its item count."""
        count = self._fresh("count")
        self._emit(depth, f"if {var}:", f"    {count} = len({var})")
        self._long(count, _LONG_RANGE, depth + 1)

    def _timestamp(self, var: str, depth: int) -> None:
        """Milliseconds since the epoch, from an aware datetime as fastavro counts them (whole
        milliseconds, rounded down) or from an int; a naive datetime is left to fastavro, which
        reads it in the machine's time zone."""
        self._emit(
            depth,
            f"if type({var}) is datetime and {var}.tzinfo is not None:",
            f"    {var} = ({var} - _EPOCH) // _MILLISECOND",
            f"elif type({var}) is not int:",
            "    raise Unwritable('a timestamp other than an aware datetime or an int')",
        )
        self._long(var, _LONG_RANGE, depth)

    def _enum(self, schema: dict[str, Any], var: str, depth: int) -> None:
        symbols = {symbol: bytes(_zigzag(i)) for i, symbol in enumerate(schema["symbols"])}
        self._refuse(depth, f"type({var}) is not str", "an enum symbol other than a str")
        self._emit(depth, f"out += {self._constant(symbols)}[{var}]")

    def _record(
        self, schema: dict[str, Any], var: str, depth: int, expanding: frozenset[str]
    ) -> None:
        """The fields in order; a missing one takes its default, or None in a union with null
        (as fastavro does), or fails. A ``-type`` key names a record's type to fastavro's union
        validation: such a record is left to fastavro."""
        self._refuse(
            depth, f"type({var}) is not dict or '-type' in {var}", "a record other than a dict"
        )
        for field in schema["fields"]:
            name, field_var = field["name"], self._fresh("f")
            if "default" in field:
                default = field["default"]
                literal = repr(default) if default is None else self._constant(default)
                self._emit(depth, f"{field_var} = {var}.get({name!r}, {literal})")
            elif isinstance(field["type"], list) and "null" in field["type"]:
                self._emit(depth, f"{field_var} = {var}.get({name!r})")
            else:
                self._emit(depth, f"{field_var} = {var}[{name!r}]")
            self.value(field["type"], field_var, depth, expanding)

    def _union(self, branches: list[Any], var: str, depth: int, expanding: frozenset[str]) -> None:
        if len(branches) > 64:
            raise _Unknown("a union of more than 64 branches")
        resolved = [self._resolve(branch, expanding) for branch in branches]
        if len(branches) == 2 and branches[0] == "null":
            # The common optional value: None is the null branch, anything else the other or
            # nothing (the other's writer refuses what its validation would).
            # A tuple is fastavro's notation for a value with its branch named: left to fastavro.
            branch, inner = resolved[1]
            self._emit(depth, f"if {var} is None:", "    out.append(0)")
            if isinstance(branch, dict) and branch.get("type") == "array":
                self._emit(
                    depth,
                    f"elif type({var}) is tuple:",
                    "    raise Unwritable('a union value in tuple notation')",
                )
            self._emit(depth, "else:", "    out.append(2)")
            self.value(branch, var, depth + 1, inner)
            return
        kind = self._fresh("t")
        self._emit(depth, f"{kind} = type({var})")
        opening = "if"
        for python_type in _PYTHON_TYPES:
            tests = [_test(branch, python_type, var) for branch, _ in resolved]
            candidates = [(number, test) for number, test in enumerate(tests) if test is not None]
            if not candidates:
                continue
            self._emit(depth, f"{opening} {kind} is {_PYTHON_TYPES[python_type]}:")
            opening = "elif"
            self._choose(candidates, resolved, var, depth + 1)
        self._emit(depth, "else:" if opening == "elif" else "if True:")
        self._emit(depth + 1, "raise Unwritable('a value of a type no branch holds')")

    def _choose(
        self,
        candidates: list[tuple[int, str]],
        resolved: list[tuple[object, frozenset[str]]],
        var: str,
        depth: int,
    ) -> None:
        """The first candidate branch whose test passes; a test that only writing can make is
        trusted when it is the last candidate, and otherwise leaves the value to fastavro."""
        opening = "if"
        for position, (number, test) in enumerate(candidates):
            certain = test == "True" or (test == _UNSURE and position == len(candidates) - 1)
            inner = depth if opening == "if" else depth + 1
            if certain or test == _UNSURE:
                if opening == "elif":
                    self._emit(depth, "else:")
            else:
                self._emit(depth, f"{opening} {test}:")
                inner = depth + 1
            if not certain and test == _UNSURE:
                self._emit(inner, "raise Unwritable('a union value fastavro must place')")
                return
            self._emit(inner, f"out.append({2 * number})")
            branch, expanding = resolved[number]
            self.value(branch, var, inner, expanding)
            if certain:
                return
            opening = "elif"
        self._emit(depth, "else:", "    raise Unwritable('a union value no branch holds')")


def _test(branch: object, python_type: str, var: str) -> str | None:
    """The test under which fastavro's validation takes ``branch`` for a value of a Python type:
    None when it never does, ``True`` when it always does, ``_UNSURE`` when it depends on the
    contents of a record, map or array."""
    kind, logical = branch, None
    if isinstance(branch, dict):
        kind, logical = branch.get("type"), branch.get("logicalType")
    if logical == "timestamp-millis" and kind == "long":
        if python_type == "datetime":
            return "True"
        kind = "long"
    elif logical is not None:
        raise _Unknown(str(logical))
    if not isinstance(kind, str) or kind not in _BRANCH_KINDS:
        raise _Unknown(f"a union branch of type {kind}")
    tests: dict[tuple[object, str], str] = {
        ("null", "none"): "True",
        ("boolean", "bool"): "True",
        ("int", "int"): f"{_INT_RANGE[0]} <= {var} <= {_INT_RANGE[1]}",
        ("long", "int"): f"{_LONG_RANGE[0]} <= {var} <= {_LONG_RANGE[1]}",
        ("double", "int"): "True",
        ("double", "float"): "True",
        ("string", "str"): "True",
        ("bytes", "bytes"): "True",
        ("record", "dict"): _UNSURE,
        ("map", "dict"): _UNSURE,
        ("array", "list"): _UNSURE,
    }
    if kind == "enum" and python_type == "str":
        assert isinstance(branch, dict)
        return f"{var} in {tuple(branch['symbols'])!r}"
    return tests.get((kind, python_type))


def _zigzag(value: int) -> bytearray:
    """The varint of a small int, for constants."""
    out = bytearray()
    _long(out, value, *_LONG_RANGE)
    return out
