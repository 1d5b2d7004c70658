"""The condition index: finds a tier's matching assignments without evaluating every filter.

Each OR-set of each assignment (a *conjunction*) gets one bit, in document order. Conditions that
compare a field with constants (``equals``, ``in_list``, their negations, ranges, emptiness) are
merged per conjunction and field into one constraint and indexed per field: for every value the
rules mention, the index holds the bitset of conjunctions that value makes fail, and for numbers a
bitset per interval between the rules' bounds. A distance condition adds the band of latitudes it
can hold in, so most leads are ruled out without measuring a distance. Routing a lead is then one
dict lookup (plus a bisection for numbers) and one big-integer OR per indexed field, after which
only the surviving conjunctions are looked at, lowest bit first, and only their remaining
conditions (text search, patterns, variables, distances) are evaluated exactly.

The cost per lead grows with the number of fields the tier tests and the number of survivors; the
ORs grow with the tier's size too, but 64 conjunctions to a machine word. The plain evaluator in
:mod:`processor.rules.reference` decides the same by evaluating every condition, and property
tests hold the two to the same answers.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

from processor.rules.conditions import Check, Test
from processor.rules.fields import LeadView
from processor.rules.values import Key, Opaque

if TYPE_CHECKING:
    from processor.rules.snapshot import CompiledAssignment

INDEXED_OPERATORS = frozenset(
    {"equals", "not_equals", "in_list", "not_in_list", "is_empty", "is_not_empty"}
    | {"gt", "gte", "lt", "lte", "between"}
)


def _bits(positions: Iterable[int]) -> int:
    return reduce(or_, (1 << position for position in positions), 0)


@dataclass(slots=True)
class _Constraint:
    """Everything one conjunction requires of one field, merged from its indexable conditions."""

    allowed: frozenset[Key] | None = None
    excluded: set[Key] = field(default_factory=set)
    low: float = -math.inf
    low_open: bool = False
    high: float = math.inf
    high_open: bool = False
    bounded: bool = False
    empty: bool | None = None
    impossible: bool = False

    def add(self, check: Check) -> None:
        op, operand = check.op, check.operand
        if op in ("equals", "in_list", "not_equals", "not_in_list"):
            if isinstance(operand, frozenset):
                keys = operand
            else:
                assert isinstance(operand, float | str | Opaque)
                keys = frozenset((operand,))
            if op in ("not_equals", "not_in_list"):
                self.excluded.update(keys)
            else:
                self.allowed = keys if self.allowed is None else self.allowed & keys
        elif op in ("is_empty", "is_not_empty"):
            wanted = op == "is_empty"
            self.impossible |= self.empty is not None and self.empty != wanted
            self.empty = wanted
        else:
            low, high = operand if isinstance(operand, tuple) else (operand, operand)
            assert isinstance(low, float) and isinstance(high, float)
            if op in ("gt", "gte", "between"):
                self.raise_low(low, op == "gt")
            if op in ("lt", "lte", "between"):
                self.lower_high(high, op == "lt")

    def raise_low(self, low: float, is_open: bool = False) -> None:
        self.bounded = True
        if low > self.low or (low == self.low and is_open):
            self.low, self.low_open = low, is_open

    def lower_high(self, high: float, is_open: bool = False) -> None:
        self.bounded = True
        if high < self.high or (high == self.high and is_open):
            self.high, self.high_open = high, is_open

    def in_interval(self, key: Key) -> bool:
        if type(key) is not float:
            return False
        above = key > self.low if self.low_open else key >= self.low
        below = key < self.high if self.high_open else key <= self.high
        return above and below

    def settle(self) -> None:
        """Simplifies to one of: allowed values, an interval minus values, excluded values,
        emptiness; or marks the constraint impossible (the conjunction then never matches)."""
        if self.empty and (self.allowed is not None or self.bounded):
            self.impossible = True
        if self.bounded:
            touching = self.low == self.high and (self.low_open or self.high_open)
            self.impossible |= self.low > self.high or touching
        if self.allowed is not None:
            if self.excluded or self.bounded:
                self.allowed = frozenset(
                    key
                    for key in self.allowed
                    if key not in self.excluded and (not self.bounded or self.in_interval(key))
                )
            self.impossible |= not self.allowed
            self.excluded.clear()
            self.bounded = False
        elif self.bounded:
            self.excluded = {key for key in self.excluded if self.in_interval(key)}


def _indexable(check: Check) -> bool:
    return check.op in INDEXED_OPERATORS and check.variable_slot is None


def _merge(checks: Iterable[Check]) -> dict[int, _Constraint] | None:
    """The conjunction's indexable conditions merged per slot; None when they contradict."""
    merged: dict[int, _Constraint] = {}
    for check in checks:
        if _indexable(check):
            merged.setdefault(check.slot, _Constraint()).add(check)
        if check.band is not None:
            constraint = merged.setdefault(check.band.slot, _Constraint())
            constraint.raise_low(check.band.low)
            constraint.lower_high(check.band.high)
    for constraint in merged.values():
        constraint.settle()
        if constraint.impossible:
            return None
    return merged


def satisfiable(checks: Iterable[Check]) -> bool:
    """False when an OR-set's conditions on constants contradict (``equals CA`` and ``equals NY``):
    no lead can ever match it. Text, pattern and variable conditions are not looked into."""
    return _merge(checks) is not None


class _FieldIndex:
    """For one field of one tier: which conjunctions each lead value makes fail.

    ``by_key`` holds the answer for every value the tier's rules mention and for the empty value;
    any other number is answered by ``number_base`` plus its interval's bitset, anything else by
    ``other``.
    """

    __slots__ = ("boundaries", "by_key", "interval_fail", "number_base", "other", "slot")

    def __init__(self, slot: int, constraints: Sequence[tuple[int, _Constraint]]) -> None:
        self.slot = slot
        accept: dict[Key, list[int]] = {}
        exclude: dict[Key, list[int]] = {}
        allowed_all, must_be_empty, must_not_be_empty, intervals = [], [], [], []
        for bit, constraint in constraints:
            if constraint.allowed is not None:
                allowed_all.append(bit)
                for key in constraint.allowed:
                    accept.setdefault(key, []).append(bit)
            elif constraint.empty:
                must_be_empty.append(bit)
            else:
                for key in constraint.excluded:
                    exclude.setdefault(key, []).append(bit)
                if constraint.bounded:
                    intervals.append((bit, constraint))
                elif constraint.empty is False:
                    must_not_be_empty.append(bit)
        allowed_mask, empty_mask = _bits(allowed_all), _bits(must_be_empty)
        interval_mask = _bits(bit for bit, _ in intervals)
        self.boundaries, self.interval_fail = _intervals(intervals, interval_mask)
        self.number_base = allowed_mask | empty_mask
        self.other = allowed_mask | empty_mask | interval_mask
        self.by_key: dict[Key, int] = {
            None: allowed_mask | interval_mask | _bits(must_not_be_empty),
        }
        for key in accept.keys() | exclude.keys():
            fails = (allowed_mask & ~_bits(accept.get(key, ()))) | _bits(exclude.get(key, ()))
            if type(key) is float:
                fails |= empty_mask | self.interval_fail[self.segment(key)]
            else:
                fails |= empty_mask | interval_mask
            self.by_key[key] = fails

    def segment(self, number: float) -> int:
        """The position of ``number`` among the boundaries: 2i+1 on boundary i, 2i just below it."""
        boundaries = self.boundaries
        i = bisect_left(boundaries, number)
        return 2 * i + 1 if i < len(boundaries) and boundaries[i] == number else 2 * i


def _intervals(
    intervals: Sequence[tuple[int, _Constraint]], interval_mask: int
) -> tuple[tuple[float, ...], list[int]]:
    """The distinct bounds, and for each segment between them the bitset of intervals that fail.

    Every interval covers a contiguous run of segments, so its bit is switched on where the run
    starts and off after it ends, and one sweep gives each segment its bitset.
    """
    bounds = sorted({c.low for _, c in intervals} | {c.high for _, c in intervals})
    boundaries = tuple(b for b in bounds if math.isfinite(b))
    position = {bound: i for i, bound in enumerate(boundaries)}
    segments = 2 * len(boundaries) + 1
    toggles = [0] * (segments + 1)
    for bit, c in intervals:
        first = 0 if c.low == -math.inf else 2 * position[c.low] + (2 if c.low_open else 1)
        last = (
            segments - 1 if c.high == math.inf else 2 * position[c.high] + (0 if c.high_open else 1)
        )
        toggles[first] ^= 1 << bit
        toggles[last + 1] ^= 1 << bit
    failing, inside = [], 0
    for toggle in toggles[:segments]:
        inside ^= toggle
        failing.append(interval_mask & ~inside)
    return boundaries, failing


class TierIndex:
    """The matching assignments of one tier, found through the per-field bitsets."""

    __slots__ = ("_all", "_fields", "_owner", "_residual")

    def __init__(self, assignments: Sequence[CompiledAssignment]) -> None:
        owner: list[CompiledAssignment] = []
        residual: list[tuple[Test, ...]] = []
        per_field: dict[int, list[tuple[int, _Constraint]]] = {}
        possible = 0
        for assignment in assignments:
            if not assignment.partner.active:
                continue
            for checks in assignment.filter or ((),):
                bit = len(owner)
                owner.append(assignment)
                merged = _merge(checks)
                residual.append(tuple(check.test for check in checks if not _indexable(check)))
                if merged is None:
                    continue
                possible |= 1 << bit
                for slot, constraint in merged.items():
                    per_field.setdefault(slot, []).append((bit, constraint))
        self._owner = tuple(owner)
        self._residual = tuple(residual)
        self._all = possible
        self._fields = tuple(
            _FieldIndex(slot, constraints) for slot, constraints in sorted(per_field.items())
        )

    def match(self, view: LeadView, first_only: bool = False) -> list[CompiledAssignment]:
        """The tier's matching assignments with active partners, in document order."""
        keys = view.keys
        failing = 0
        for index in self._fields:
            key = keys[index.slot]
            fails = index.by_key.get(key)
            if fails is None:
                if type(key) is float:
                    fails = index.number_base | index.interval_fail[index.segment(key)]
                else:
                    fails = index.other
            failing |= fails
        survivors = self._all & ~failing
        found: list[CompiledAssignment] = []
        owner, residual = self._owner, self._residual
        last = None
        while survivors:
            lowest = survivors & -survivors
            survivors ^= lowest
            bit = lowest.bit_length() - 1
            assignment = owner[bit]
            if assignment is last:
                continue
            for test in residual[bit]:
                if not test(view):
                    break
            else:
                found.append(assignment)
                if first_only:
                    break
                last = assignment
        return found
