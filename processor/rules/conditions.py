"""Conditions compiled into tests on a :class:`LeadView`: the contract's operator semantics.

Each condition becomes a closure over its slot and its parsed value, so evaluating it is a list
index and a comparison. The plain reference evaluator uses these tests for every condition; the
condition index uses them only for the conditions it cannot index (text search, patterns,
variables, distances), so both share one definition of what each operator means.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from processor.geometry.distance import EARTH_RADIUS_KM, great_circle_km
from processor.rules.document import Condition
from processor.rules.fields import GEO, FieldRef, LeadView
from processor.rules.operators import (
    NEGATIONS,
    Operand,
    Operator,
    Pattern,
    Point,
    Variable,
    parse_operand,
)
from processor.rules.values import Key

Test = Callable[[LeadView], bool]
SlotOf = Callable[[FieldRef], int]

GEO_LATITUDE = FieldRef(GEO, "lat")

KM_PER_DEGREE_LATITUDE = EARTH_RADIUS_KM * math.pi / 180
"""Along a meridian the great-circle distance is exactly this per degree, and never shorter."""

TRACE_TEXT_LIMIT = 100
"""Longer text is cut in traces: a trace explains, it does not copy the lead or the rules."""

TRACE_LIST_LIMIT = 5
"""A longer list in a trace shows this many items and its length."""


@dataclass(frozen=True, slots=True, eq=False)
class Band:
    """A range another slot's number must lie in for a condition to hold: necessary, not enough.

    ``within_km`` has one on the lead's latitude, so the condition index can rule out most leads
    for a distance condition without measuring a distance.
    """

    slot: int
    low: float
    high: float


@dataclass(frozen=True, slots=True, eq=False)
class Check:
    """A condition ready to evaluate: which slot it reads, its parsed value, and its test."""

    condition: Condition
    slot: int
    op: Operator
    operand: Operand
    variable_slot: int | None
    test: Test
    band: Band | None = None


def compile_check(condition: Condition, slot_of: SlotOf) -> Check:
    """Compiles a validated condition; ``slot_of`` gives the slot of each field it reads."""
    operand = parse_operand(condition.op, condition.value)
    slot = slot_of(condition.ref)
    variable_slot = slot_of(operand.ref) if isinstance(operand, Variable) else None
    positive = NEGATIONS.get(condition.op, condition.op)
    test = _positive_test(positive, slot, operand, variable_slot)
    if positive != condition.op:
        test = _negated(test)
    band = None
    if isinstance(operand, Point):
        span = _latitude_span(operand.km)
        band = Band(slot_of(GEO_LATITUDE), operand.lat - span, operand.lat + span)
    return Check(condition, slot, condition.op, operand, variable_slot, test, band)


def _negated(test: Test) -> Test:
    return lambda view: not test(view)


def _positive_test(op: str, slot: int, operand: Operand, other: int | None) -> Test:
    if other is not None:
        return _variable_test(op, slot, other)
    if op == "equals":
        return lambda view: view.keys[slot] == operand
    if op == "in_list":
        assert isinstance(operand, frozenset)
        return lambda view: view.keys[slot] in operand
    if op == "is_empty":
        return lambda view: view.keys[slot] is None
    if op == "is_not_empty":
        return lambda view: view.keys[slot] is not None
    if op == "between" or op in _NUMBER_TESTS:
        return _number_test(op, slot, operand)
    if op in _TEXT_TESTS:
        assert isinstance(operand, str)
        compare = _TEXT_TESTS[op]
        return lambda view: (text := view.folded(slot)) is not None and compare(text, operand)
    if op == "matches":
        assert isinstance(operand, Pattern)
        return _pattern_test(slot, operand)
    assert op == "within_km" and isinstance(operand, Point)
    return _within_test(operand)


_TEXT_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda text, needle: needle in text,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
}

_NUMBER_TESTS: dict[str, Callable[[float, float], bool]] = {
    "gt": float.__gt__,
    "gte": float.__ge__,
    "lt": float.__lt__,
    "lte": float.__le__,
}


def _pattern_test(slot: int, pattern: Pattern) -> Test:
    search = pattern.search

    def found(view: LeadView) -> bool:
        text = view.text(slot)
        if text is None:
            return False
        try:
            return search(text) is not None
        except UnicodeEncodeError:  # a lone surrogate: searched as the replacement character
            return search(text.encode("utf-8", "replace").decode()) is not None

    return found


def _number_test(op: str, slot: int, operand: Operand) -> Test:
    if op == "between":
        assert isinstance(operand, tuple)
        low, high = operand
        return lambda view: type(key := view.keys[slot]) is float and low <= key <= high
    assert isinstance(operand, float)
    compare = _NUMBER_TESTS[op]
    return lambda view: type(key := view.keys[slot]) is float and compare(key, operand)


def _variable_test(op: str, slot: int, other: int) -> Test:
    if op == "equals":
        return lambda view: (key := view.keys[slot]) is not None and key == view.keys[other]
    if op in _TEXT_TESTS:
        compare = _TEXT_TESTS[op]

        def text_test(view: LeadView) -> bool:
            text, needle = view.folded(slot), view.folded(other)
            return text is not None and needle is not None and compare(text, needle)

        return text_test
    compare_numbers = _NUMBER_TESTS[op]

    def number_test(view: LeadView) -> bool:
        key: Key = view.keys[slot]
        bound: Key = view.keys[other]
        return type(key) is float and type(bound) is float and compare_numbers(key, bound)

    return number_test


def _latitude_span(km: float) -> float:
    """Degrees of latitude farther than ``km`` apart, with a margin for rounding."""
    return km / KM_PER_DEGREE_LATITUDE * (1 + 1e-9) + 1e-9


def _within_test(point: Point) -> Test:
    """Distance test with a cheap first look: points further apart in latitude alone than the
    radius (with a margin for rounding) are out, without the trigonometry."""
    lat, lon, km = point.lat, point.lon, point.km
    latitude_span = _latitude_span(km)

    def within(view: LeadView) -> bool:
        geo = view.geo
        if geo is None or abs(geo.lat - lat) > latitude_span:
            return False
        return great_circle_km(geo.lat, geo.lon, lat, lon) <= km

    return within


def shown(value: object) -> object:
    """A value as a trace shows it, bounded whatever the rules or the lead hold: JSON scalars as
    they are, text cut after ``TRACE_TEXT_LIMIT`` characters (saying how long it was), a list by
    its first ``TRACE_LIST_LIMIT`` items and its length (an ``in_list`` of 65,000 postcodes)."""
    if isinstance(value, list | tuple):
        items = [_shown_scalar(item) for item in value[:TRACE_LIST_LIMIT]]
        return items if len(value) <= TRACE_LIST_LIMIT else {"first": items, "count": len(value)}
    if isinstance(value, Mapping):  # within_km's point, a variable: small, but bounded all the same
        pairs = list(value.items())[:TRACE_LIST_LIMIT]
        return {_shown_scalar(str(key)): _shown_scalar(item) for key, item in pairs}
    return _shown_scalar(value)


def _shown_scalar(value: object) -> object:
    if isinstance(value, str):
        if len(value) <= TRACE_TEXT_LIMIT:
            return value
        return f"{value[:TRACE_TEXT_LIMIT]}… ({len(value)} characters)"
    if value is None or isinstance(value, bool | int | float):
        return value
    return _shown_scalar(reprlib.repr(value))


def failure(check: Check, view: LeadView) -> dict[str, object]:
    """Why ``check`` failed for this lead: the condition as written and the value it saw."""
    condition = check.condition
    found: dict[str, object] = {"field": condition.field, "op": condition.op}
    if condition.value is not None:
        found["value"] = shown(condition.value)
    if isinstance(check.operand, Point):
        geo = view.geo
        found["actual"] = None
        if geo is not None:
            point = check.operand
            distance = great_circle_km(geo.lat, geo.lon, point.lat, point.lon)
            found["actual"] = {"lat": geo.lat, "lon": geo.lon, "distance_km": round(distance, 3)}
        return found
    found["actual"] = shown(view.values[check.slot])
    if check.variable_slot is not None:
        found["variable_value"] = shown(view.values[check.variable_slot])
    return found
