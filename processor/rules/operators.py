"""The condition operators and what each accepts as its value.

``parse_operand`` is the one place that decides whether a rule's value suits its operator; the
document validator calls it to report mistakes with their path, and the compiler calls it again to
get the value in the form the operator evaluates (keys, a number pair, a compiled pattern).

``matches`` compiles with RE2, whose matching time is linear in the text's length whatever the
pattern: Python's backtracking ``re`` takes about a day to find that ``(a+)+$`` does not match 40
``a``s and a ``!``, holding the GIL all that time. RE2 refuses what it cannot match in linear time
(backreferences, lookaround), and such a pattern makes the document invalid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import re2

from processor.rules.fields import GEO, FieldRef, parse_field
from processor.rules.values import Key, as_number, canonical, folded_text

Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
    "in_list",
    "not_in_list",
    "between",
    "gt",
    "gte",
    "lt",
    "lte",
    "matches",
    "within_km",
]
OPERATORS: frozenset[str] = frozenset(get_args(Operator))

NEGATIONS: Mapping[str, Operator] = {
    "not_equals": "equals",
    "not_in_list": "in_list",
    "not_contains": "contains",
}
"""Each negative operator is exactly the negation of its positive one, empty fields included."""

TEXT_OPERATORS = frozenset({"contains", "not_contains", "starts_with", "ends_with"})
NUMBER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
VARIABLE_OPERATORS = frozenset({"equals", "not_equals"} | TEXT_OPERATORS | NUMBER_OPERATORS)
"""Operators whose value may be ``{var: <field path>}``: those that compare with one value."""


class OperandError(ValueError):
    """The value does not suit the operator; the message says what would."""


@dataclass(frozen=True, slots=True)
class Variable:
    """``{var: <path>}``: compare with another field of the same lead."""

    path: str
    ref: FieldRef


@dataclass(frozen=True, slots=True)
class Point:
    """``within_km``'s value: a point and a radius."""

    lat: float
    lon: float
    km: float


@dataclass(frozen=True, slots=True)
class Pattern:
    """``matches``' value: the pattern as written and its compiled RE2 search, case-insensitive.

    ``search`` returns a match or None, and raises ``UnicodeEncodeError`` on text that is not
    Unicode (a lone surrogate), which RE2, reading UTF-8, cannot take.
    """

    source: str
    search: Callable[[str], object]


Operand = Key | frozenset[Key] | tuple[float, float] | Pattern | Variable | Point

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False  # the refusal is reported with the condition's path instead


def _scalar_key(value: object, op: str) -> Key:
    if value is None or isinstance(value, list | dict):
        raise OperandError(f"{op} needs a string, number or boolean")
    key = canonical(value)
    if key is None:
        raise OperandError(f"{op} needs a non-empty value; use is_empty to test for emptiness")
    return key


def _variable(value: Mapping[object, object], op: str) -> Variable:
    if op not in VARIABLE_OPERATORS:
        raise OperandError(f"{op} cannot compare with a variable")
    path = value.get("var")
    if set(value) != {"var"} or not isinstance(path, str):
        raise OperandError("a variable is written {var: <field path>}")
    ref = parse_field(path)
    if isinstance(ref, str):
        raise OperandError(ref)
    if ref.section == GEO and ref.key is None:
        raise OperandError("a variable cannot be the whole geolocation")
    return Variable(path, ref)


def _number(value: object, what: str) -> float:
    number = None if isinstance(value, bool) else as_number(value)
    if number is None:
        raise OperandError(what)
    return number


def parse_operand(op: str, value: object) -> Operand:
    """``value`` in the form ``op`` evaluates, or :class:`OperandError` saying what it needs."""
    if isinstance(value, Mapping) and "var" in value:
        return _variable(value, op)
    if op in ("equals", "not_equals"):
        return _scalar_key(value, op)
    if op in TEXT_OPERATORS:
        _scalar_key(value, op)
        text = folded_text(value)
        if text is None:
            raise OperandError(f"{op} needs text to look for")
        return text
    if op in ("is_empty", "is_not_empty"):
        if value is not None:
            raise OperandError(f"{op} takes no value")
        return None
    if op in ("in_list", "not_in_list"):
        if not isinstance(value, list) or not value:
            raise OperandError(f"{op} needs a non-empty list of values")
        return frozenset(_scalar_key(item, f"each item of {op}") for item in value)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise OperandError("between needs two numbers: [low, high]")
        low, high = (_number(item, "between needs two numbers: [low, high]") for item in value)
        if low > high:
            raise OperandError(f"between needs low <= high, got [{value[0]}, {value[1]}]")
        return (low, high)
    if op in NUMBER_OPERATORS:
        return _number(value, f"{op} needs a number")
    if op == "matches":
        return _pattern(value)
    if op == "within_km":
        return _point(value)
    raise OperandError(f"unknown operator {op!r}")


def _pattern(value: object) -> Pattern:
    if not isinstance(value, str) or not value:
        raise OperandError("matches needs a regular expression")
    try:
        compiled = re2.compile(value, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise OperandError(
            f"matches needs a valid regular expression: {reason} "
            "(RE2 syntax, which has no backreferences or lookaround)"
        ) from None
    return Pattern(value, compiled.search)


def _point(value: object) -> Point:
    needs = "within_km needs {lat, lon, km}"
    if not isinstance(value, Mapping) or set(value) != {"lat", "lon", "km"}:
        raise OperandError(needs)
    lat, lon, km = (_number(value[name], needs) for name in ("lat", "lon", "km"))
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise OperandError(
            f"within_km needs lat in [-90, 90] and lon in [-180, 180], got {lat}, {lon}"
        )
    if km < 0:
        raise OperandError(f"within_km needs km >= 0, got {km}")
    return Point(lat, lon, km)
