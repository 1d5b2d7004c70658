"""A reader of Avro bodies compiled from a parsed schema: the common case of decoding, fast.

fastavro interprets the schema afresh for every value it reads, which makes a lead of some forty
optional fields cost about fifty microseconds, more than routing it: too slow for a replay that
routes tens of thousands of leads a second. :func:`compile_reader` writes one Python function per
schema instead, straight-line code with a branch per union, and compiles it once: a lead then
costs a third to a half of that. (The code is generated from the schema's types alone; names
appear in it only as ``repr`` literals.)

It reads what fastavro reads, value for value, for well-formed bodies only: whenever the bytes are
anything else (truncated, a union branch or a varint out of range, a boolean byte other than 0 or
1, text that is not UTF-8, more items than bytes left) it raises :class:`Unreadable` or the error
Python gives (``IndexError``, ``ValueError``, ``struct.error``), and the caller reads the body
again with fastavro, whose error names what is wrong. A schema with a type it does not know
(fixed, logical types other than ``timestamp-millis``, recursive types) compiles to None:
fastavro reads those. A named type is read where it is referred to, as if written out there; an
enum is read as its symbol.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Read = Callable[[bytes, int], tuple[Any, int]]
"""Reads one body starting at a position: the value and the position after it."""

READ_ERRORS = (IndexError, ValueError, OverflowError, struct.error)
"""What a compiled reader raises for bytes it cannot read, besides :class:`Unreadable`
(``UnicodeDecodeError`` is a ``ValueError``)."""


class Unreadable(Exception):
    """The bytes are not a well-formed body this reader is sure to read as fastavro does."""


class _Unknown(Exception):
    """A schema with a type this reader does not compile."""


def compile_reader(schema: object) -> Read | None:
    """A reader of bodies of ``schema`` (as ``fastavro.parse_schema`` gives it), or None when
    the schema has a type only fastavro reads."""
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    source = _Source(named)
    try:
        source.value(schema, "value", 1, frozenset())
    except _Unknown:
        return None
    code = "\n".join(
        ["def read(data, pos):", "    size = len(data)", *source.lines, "    return value, pos"]
    )
    scope: dict[str, Any] = {
        **source.constants,
        "_long": _long,
        "_block": _block,
        "_ONE": _ONE,
        "_SHORT": _SHORT,
        "Unreadable": Unreadable,
        "_DOUBLE": struct.Struct("<d").unpack_from,
        "_FLOAT": struct.Struct("<f").unpack_from,
        "_EPOCH": datetime(1970, 1, 1, tzinfo=UTC),
        "_MILLISECOND": timedelta(milliseconds=1),
    }
    exec(compile(code, "<avro reader>", "exec"), scope)
    read: Read = scope["read"]
    return read


_ONE: tuple[int | None, ...] = tuple(
    (byte >> 1) ^ -(byte & 1) if byte < 0x80 else None for byte in range(256)
)
"""The value of a varint that is this one byte; None for a byte that says more follow."""

_SHORT: tuple[int | None, ...] = tuple(
    byte >> 1 if byte < 0x80 and not byte & 1 else None for byte in range(256)
)
"""The length a one-byte varint gives a string or bytes value; None for any other byte (more
bytes follow, or a negative length), which the general path reads or refuses. Most lengths are
under 64, and a table look-up is half the work of decoding the byte."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint of at most 64 bits, as fastavro's ``long``."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Unreadable("a varint longer than 64 bits")
    if value >> 64:
        raise Unreadable("a varint longer than 64 bits")
    return (value >> 1) ^ -(value & 1), pos


def _block(data: bytes, pos: int) -> tuple[int, int]:
    """The item count of a map or array block, and where its items start; a block may say how
    many bytes it holds, which is skipped. More items than bytes left is refused: an item of
    ``null`` takes none, and such a count would have the reader loop for ever."""
    count = _ONE[data[pos]]
    if count is None:
        count, pos = _long(data, pos)
    else:
        pos += 1
    if count < 0:
        count = -count
        _, pos = _long(data, pos)
    if count > len(data) - pos:
        raise Unreadable("a block of more items than bytes")
    return count, pos


class _Source:
    """The lines of a reader's body: each type's code reads one value at ``pos`` into a target
    and leaves ``pos`` after it."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self._named = named
        self._names: Iterator[int] = itertools.count()

    def _emit(self, depth: int, *lines: str) -> None:
        self.lines.extend("    " * depth + line for line in lines)

    def _fresh(self, stem: str) -> str:
        return f"{stem}{next(self._names)}"

    def value(self, schema: object, target: str, depth: int, expanding: frozenset[str]) -> None:
        if isinstance(schema, str) and schema in self._named:
            if schema in expanding:
                raise _Unknown(f"the recursive type {schema}")
            expanding = expanding | {schema}
            schema = self._named[schema]
        if isinstance(schema, list):
            self._union(schema, target, depth, expanding)
        elif isinstance(schema, dict):
            self._complex(schema, target, depth, expanding)
        elif isinstance(schema, str):
            self._primitive(schema, target, depth)
        else:
            raise _Unknown(type(schema).__name__)

    def _primitive(self, kind: str, target: str, depth: int) -> None:
        if kind == "null":
            self._emit(depth, f"{target} = None")
        elif kind == "boolean":
            self._emit(
                depth,
                "if data[pos] > 1:",
                "    raise Unreadable('a boolean byte other than 0 or 1')",
                f"{target} = data[pos] == 1",
                "pos += 1",
            )
        elif kind in ("int", "long"):
            self._long(target, depth)
        elif kind in ("float", "double"):
            unpack, size = ("_FLOAT", 4) if kind == "float" else ("_DOUBLE", 8)
            self._emit(depth, f"{target} = {unpack}(data, pos)[0]", f"pos += {size}")
        elif kind in ("string", "bytes"):
            self._bytes(target, depth, ".decode()" if kind == "string" else "")
        else:
            raise _Unknown(kind)

    def _long(self, target: str, depth: int) -> None:
        """A varint, its common one-byte case inline (a table look-up)."""
        self._emit(
            depth,
            f"{target} = _ONE[data[pos]]",
            f"if {target} is None:",
            f"    {target}, pos = _long(data, pos)",
            "else:",
            "    pos += 1",
        )

    def _bytes(self, target: str, depth: int, decode: str) -> None:
        """A string or bytes value: its length, its common one-byte case a table look-up."""
        length, end = self._fresh("n"), self._fresh("end")
        self._emit(
            depth,
            f"{length} = _SHORT[data[pos]]",
            f"if {length} is None:",
            f"    {length}, pos = _long(data, pos)",
            f"    if {length} < 0:",
            "        raise Unreadable('a string or bytes value of negative length')",
            "else:",
            "    pos += 1",
            f"{end} = pos + {length}",
            f"if {end} > size:",
            "    raise Unreadable('a string or bytes value past the end')",
            f"{target} = data[pos:{end}]{decode}",
            f"pos = {end}",
        )

    def _complex(
        self, schema: dict[str, Any], target: str, depth: int, expanding: frozenset[str]
    ) -> None:
        kind, logical = schema.get("type"), schema.get("logicalType")
        if logical is not None:
            if (kind, logical) != ("long", "timestamp-millis"):
                raise _Unknown(str(logical))
            self._long(target, depth)
            # A product of timedeltas is exact, as the constructor is, and skips its keywords.
            self._emit(depth, f"{target} = _EPOCH + _MILLISECOND * {target}")
        elif kind == "record":
            fields = [(field["name"], self._fresh("f")) for field in schema["fields"]]
            for field, (_, name) in zip(schema["fields"], fields, strict=True):
                self.value(field["type"], name, depth, expanding)
            pairs = ", ".join(f"{key!r}: {name}" for key, name in fields)
            self._emit(depth, f"{target} = {{{pairs}}}")
        elif kind == "enum":
            self._enum(schema["symbols"], target, depth)
        elif kind in ("map", "array"):
            self._collection(schema, kind, target, depth, expanding)
        else:
            self.value(kind, target, depth, expanding)

    def _enum(self, symbols: list[str], target: str, depth: int) -> None:
        """A symbol by its index; an index out of range (which fastavro would read from the end
        of the list when negative) is refused."""
        index = self._fresh("index")
        table = self._fresh("_SYMBOLS")
        self.constants[table] = tuple(symbols)
        self._long(index, depth)
        self._emit(
            depth,
            f"if not 0 <= {index} < {len(symbols)}:",
            "    raise Unreadable('an enum index out of range')",
            f"{target} = {table}[{index}]",
        )

    def _collection(
        self, schema: dict[str, Any], kind: str, target: str, depth: int, expanding: frozenset[str]
    ) -> None:
        found, count, item = self._fresh("c"), self._fresh("count"), self._fresh("item")
        self._emit(
            depth,
            f"{found} = {{}}" if kind == "map" else f"{found} = []",
            f"{count}, pos = _block(data, pos)",
            f"while {count}:",
            f"    for _ in range({count}):",
        )
        if kind == "map":
            key = self._fresh("key")
            self._primitive("string", key, depth + 2)
            self.value(schema["values"], item, depth + 2, expanding)
            self._emit(depth + 2, f"{found}[{key}] = {item}")
        else:
            self.value(schema["items"], item, depth + 2, expanding)
            self._emit(depth + 2, f"{found}.append({item})")
        self._emit(depth, f"    {count}, pos = _block(data, pos)", f"{target} = {found}")

    def _union(
        self, branches: list[Any], target: str, depth: int, expanding: frozenset[str]
    ) -> None:
        """A branch index below 64 is one byte, zigzag-encoded (branch i is the byte 2i): the
        byte is compared as it is, and any other (a branch out of range, or an index written in
        more bytes than it needs) is refused."""
        if len(branches) > 64:
            raise _Unknown("a union of more than 64 branches")
        index = self._fresh("branch")
        self._emit(depth, f"{index} = data[pos]", "pos += 1")
        for number, branch in enumerate(branches):
            self._emit(depth, f"{'if' if number == 0 else 'elif'} {index} == {2 * number}:")
            self.value(branch, target, depth + 1, expanding)
        self._emit(depth, "else:", "    raise Unreadable('a union branch out of range')")
