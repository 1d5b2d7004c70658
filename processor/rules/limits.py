"""How large a rules document may be, and the checks that hold every document to it.

A rules document comes from an operator's file, stdin or the config topic, and a processor holds it
(and, while switching, its successor) whole in memory: the Kubernetes manifests give it 512 MiB.
Limits keep a careless or hostile document from costing hours of CPU or gigabytes of memory before
it is found invalid. They are checked in order of cost, each before the work it protects:

1. the text's size in bytes, before it is parsed (a file is read only up to the limit);
2. YAML aliases, on the parsed node graph before any value is built: a document of a few
   kilobytes whose aliases nest ten deep expands to a billion values;
3. the data's shape (depth, counts, list and string lengths, and its size with aliases expanded),
   in one walk that stops at the first size overrun, before the models validate anything;
4. the size of the condition indexes compiling would build, from the validated document: the one
   part of a snapshot that grows with a product (values times OR-sets of a tier) rather than
   with the document's size.

The defaults fit the processor's memory with room to spare (docs/rules.md has the figures from
benchmarks/bench_rules_memory.py); settings (``LEAD_ROUTER_RULES_MAX_*``) build other limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from processor.rules.document import Assignment, RulesDocument, is_all
from processor.rules.errors import Location, RuleError, format_path
from processor.rules.index import INDEXED_OPERATORS
from processor.rules.values import Key, canonical, fold

MAX_DEPTH = 32
"""How deeply a document may nest: the deepest valid one nests 9 deep (a variable's mapping in a
condition); a deeper one is refused before validation recurses into it."""

_MAX_REPORTED = 20
"""Problems of shape reported at most: a document with a million long strings needs no million
lines to say so."""


@dataclass(frozen=True, slots=True)
class RulesLimits:
    """The largest rules document accepted: one value per limit, each refused with its own error."""

    max_bytes: int = 3 * 1024 * 1024
    """The document's size in bytes as written, and as JSON with its YAML aliases expanded."""
    max_partners: int = 10_000
    max_profiles: int = 1_000
    max_assignments: int = 10_000
    """Assignments of all profiles together."""
    max_list_items: int = 100_000
    """Items of any one list (list values, sources, destinations, OR-sets, conditions of a set)
    and entries of any one mapping."""
    max_string_chars: int = 10_000
    """Characters of any one string (ids, names, destinations, values)."""
    max_alias_expansion: int = 100
    """How many times over its YAML aliases may multiply the values a document writes."""
    max_index_bytes: int = 24 * 1024 * 1024
    """The condition indexes' size, estimated from the document: a tier's index holds, for each
    value its conditions name, a bitset of all its OR-sets, so it grows with their product."""


DEFAULT_LIMITS = RulesLimits()


def byte_problem(size: int, limits: RulesLimits) -> RuleError | None:
    """The error for a text of ``size`` bytes (or more), or None when it is within the limit."""
    if size <= limits.max_bytes:
        return None
    return RuleError(
        "<document>",
        f"the document is larger than {limits.max_bytes:,} bytes, the limit "
        "(LEAD_ROUTER_RULES_MAX_BYTES)",
    )


def expansion_problem(written: int, expanded: int, limits: RulesLimits) -> RuleError | None:
    """The error when aliases make ``written`` values into more than the limit allows."""
    if expanded <= limits.max_alias_expansion * max(written, 1):
        return None
    return RuleError(
        "<document>",
        f"YAML aliases expand the document's {written:,} values to {expanded:,}, more than "
        f"{limits.max_alias_expansion} times as many (LEAD_ROUTER_RULES_MAX_ALIAS_EXPANSION): "
        "write each part out, or use fewer aliases",
    )


class _TooLarge(Exception):
    """Raised inside the walk: the data is already larger than allowed, so stop looking."""


class _Walk:
    """One pass over the data as the models will see it (aliases expanded), stopping early."""

    def __init__(self, limits: RulesLimits) -> None:
        self.limits = limits
        self.size = 0
        self.problems: list[RuleError] = []

    def problem(self, where: Location, message: str) -> None:
        self.problems.append(RuleError(format_path(where), message))
        if len(self.problems) >= _MAX_REPORTED:
            raise _TooLarge

    def grow(self, size: int) -> None:
        self.size += size
        if self.size > self.limits.max_bytes:
            self.problems.append(
                RuleError(
                    "<document>",
                    f"the document, with its YAML aliases expanded, is larger than "
                    f"{self.limits.max_bytes:,} bytes as JSON, the limit "
                    "(LEAD_ROUTER_RULES_MAX_BYTES)",
                )
            )
            raise _TooLarge

    def text(self, where: Location, text: str) -> None:
        self.grow(len(text) + 3)  # quotes, and a comma or colon
        if len(text) > self.limits.max_string_chars:
            self.problem(
                where,
                f"a string of {len(text):,} characters: at most "
                f"{self.limits.max_string_chars:,} (LEAD_ROUTER_RULES_MAX_STRING_CHARS)",
            )

    def run(self, raw: object) -> None:
        stack: list[tuple[tuple[str | int, ...], object]] = [((), raw)]
        while stack:
            where, node = stack.pop()
            if len(where) > MAX_DEPTH:
                self.problem(where, f"nested more than {MAX_DEPTH} deep")
                continue
            if isinstance(node, str):
                self.text(where, node)
            elif isinstance(node, Mapping):
                self._items(where, len(node), "entries")
                items = [(str(key), value) for key, value in node.items()]
                for key, _ in items:
                    self.text((*where, key), key)
                stack.extend(((*where, key), value) for key, value in reversed(items))
            elif isinstance(node, list | tuple):
                self._items(where, len(node), "items")
                stack.extend(((*where, i), node[i]) for i in reversed(range(len(node))))
            else:
                self.grow(2)  # the shortest number, and a comma

    def _items(self, where: Location, count: int, noun: str) -> None:
        self.grow(2)
        if count > self.limits.max_list_items:
            self.problem(
                where,
                f"{count:,} {noun}: at most {self.limits.max_list_items:,} "
                "(LEAD_ROUTER_RULES_MAX_LIST_ITEMS)",
            )


def _counts(raw: Mapping[object, object], limits: RulesLimits) -> Iterator[RuleError]:
    partners, profiles = raw.get("partners"), raw.get("profiles")
    profile_list = profiles if isinstance(profiles, list | tuple) else ()
    counted = (
        ("partners", partners, limits.max_partners, "PARTNERS"),
        ("profiles", profiles, limits.max_profiles, "PROFILES"),
    )
    for name, items, limit, setting in counted:
        if isinstance(items, list | tuple) and len(items) > limit:
            yield RuleError(
                name,
                f"{len(items):,} {name}: at most {limit:,} (LEAD_ROUTER_RULES_MAX_{setting})",
            )
    assignments = sum(
        len(found)
        for profile in profile_list
        if isinstance(profile, Mapping)
        and isinstance(found := profile.get("assignments"), list | tuple)
    )
    if assignments > limits.max_assignments:
        yield RuleError(
            "profiles",
            f"{assignments:,} assignments in all profiles: at most {limits.max_assignments:,} "
            "(LEAD_ROUTER_RULES_MAX_ASSIGNMENTS)",
        )


def shape_problems(raw: Mapping[object, object], limits: RulesLimits) -> list[RuleError]:
    """Every way the data ``raw`` exceeds ``limits`` (up to a few), each at its path.

    The walk is iterative, so no nesting makes it recurse, and it stops as soon as the data is
    larger than ``max_bytes`` as JSON, so a document whose aliases multiply it costs no more to
    refuse than one as large written out.
    """
    walk = _Walk(limits)
    try:
        walk.run(raw)
    except _TooLarge:
        return walk.problems
    return [*_counts(raw, limits), *walk.problems]


_RANGES = frozenset({"gt", "gte", "lt", "lte", "between"})


def _index_entries(assignments: Iterable[Assignment]) -> tuple[int, int]:
    """A tier's OR-sets, and the bitsets its index holds: one per distinct value each field's
    conditions name, two per distinct bound (the segments either side), four per distance."""
    or_sets = 0
    keys: set[tuple[str, Key]] = set()
    bounds: set[tuple[str, object]] = set()
    distances = 0
    for assignment in assignments:
        or_sets += max(1, len(assignment.filter))
        for condition in (c for or_set in assignment.filter for c in or_set):
            value, field = condition.value, condition.field
            values = value if isinstance(value, list) else [value]
            if condition.op == "within_km":
                distances += 1
            elif condition.op not in INDEXED_OPERATORS or isinstance(value, Mapping):
                continue  # not indexed, or a variable
            elif condition.op in _RANGES:
                bounds.update((field, bound) for bound in values)
            elif condition.op not in ("is_empty", "is_not_empty"):
                keys.update((field, canonical(item)) for item in values)
    return or_sets, len(keys) + 2 * len(bounds) + 4 * distances + 1


@dataclass(frozen=True, slots=True, order=True)
class TierIndexCost:
    """What one tier's condition index is estimated to take, and what makes it so large."""

    size: int
    """Bytes: OR-sets times bitsets, in bits, over 8."""
    or_sets: int
    entries: int
    where: str
    category: str


def index_costs(document: RulesDocument) -> list[TierIndexCost]:
    """Every tier's estimated condition index (within 10% of what compiling builds, measured)."""
    costs = []
    for i, profile in enumerate(document.profiles):
        tiers: dict[str, list[Assignment]] = {}
        for assignment in profile.assignments:
            name = "ALL" if is_all(assignment.category) else fold(assignment.category)
            tiers.setdefault(name, []).append(assignment)
        for members in tiers.values():
            or_sets, entries = _index_entries(members)
            label = members[0].category.strip()
            costs.append(
                TierIndexCost(or_sets * entries // 8, or_sets, entries, f"profiles[{i}]", label)
            )
    return costs


def index_problem(document: RulesDocument, limits: RulesLimits) -> RuleError | None:
    """The error when the condition indexes of ``document`` would outgrow the limit, naming the
    tier that costs most and how to shrink it."""
    costs = index_costs(document)
    total = sum(cost.size for cost in costs)
    if total <= limits.max_index_bytes:
        return None
    largest = max(costs)
    return RuleError(
        largest.where,
        f"the condition indexes would take about {total / 2**20:,.0f} MiB, more than "
        f"{limits.max_index_bytes / 2**20:,.0f} MiB (LEAD_ROUTER_RULES_MAX_INDEX_BYTES); the "
        f"largest, {largest.size / 2**20:,.0f} MiB, is category {largest.category!r} here: "
        f"{largest.or_sets:,} OR-sets times {largest.entries:,} distinct values and bounds. "
        "Spread its assignments over categories or profiles, or name fewer distinct values",
    )
