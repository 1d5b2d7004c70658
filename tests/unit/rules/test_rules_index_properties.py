"""The condition index decides exactly what the plain reference evaluator decides.

Random documents over a small vocabulary (so that rule values and lead values often coincide, sit
on range boundaries, differ only in case, whitespace or type, or are empty) and random leads; for
every tier of every document, the index must return the same candidates, in the same order, as
evaluating every condition of every assignment.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from processor.geometry.geo import Geo
from processor.rules import (
    Ledger,
    MemoryStore,
    compile_rules,
    decide,
    match,
    reference,
    validate_document,
)

TEXT_FIELDS = ["address.state", "comments", "geo.region"]
NUMBER_FIELDS = ["budget", "vehicle.year", "geo.lat"]
FIELDS = TEXT_FIELDS + NUMBER_FIELDS

NUMBERS = [-3, 0, 2.5, 5, 10, 10.5, "5", " 10 "]
SCALARS = ["CA", "ca ", "NY", "TX", "10", 10, 5, 2.5, True, False, "true", "trade", "abc", 0, -3]
LEAD_VALUES = [
    None, "", "  ", [], "CA", " ca", "NY", "tx", "Trade in", "10", "10.0", " 5 ", "abc", True,
    False, "true", 0, 5, 10, 10.5, -3, 2.5, "1e1", "nan", [1], "5.0000001",
]  # fmt: skip
NEEDLES = ["a", "ca", "trade", "1", "10", "rue", "N"]
PATTERNS = [r"^c", r"\d", r"trade\s+in", "a|b", r"^\s*$", r"0$"]

numbers = st.sampled_from(NUMBERS) | st.integers(-5, 12)
variables = st.builds(lambda path: {"var": path}, st.sampled_from(FIELDS))


def _between(pair: tuple[float, float]) -> list[float]:
    return sorted(pair)


OPERANDS: dict[str, st.SearchStrategy[Any]] = {
    "equals": st.sampled_from(SCALARS) | variables,
    "not_equals": st.sampled_from(SCALARS) | variables,
    "in_list": st.lists(st.sampled_from(SCALARS), min_size=1, max_size=4),
    "not_in_list": st.lists(st.sampled_from(SCALARS), min_size=1, max_size=4),
    "gt": numbers | variables,
    "gte": numbers | variables,
    "lt": numbers | variables,
    "lte": numbers | variables,
    "between": st.tuples(st.integers(-5, 12), st.integers(-5, 12)).map(_between),
    "is_empty": st.none(),
    "is_not_empty": st.none(),
    "contains": st.sampled_from(NEEDLES) | variables,
    "not_contains": st.sampled_from(NEEDLES) | variables,
    "starts_with": st.sampled_from(NEEDLES) | variables,
    "ends_with": st.sampled_from(NEEDLES) | variables,
    "matches": st.sampled_from(PATTERNS),
}


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 15)) == 0:
        point = {
            "lat": draw(st.floats(-6, 6)),
            "lon": draw(st.floats(-6, 6)),
            "km": draw(st.sampled_from([0, 50, 300, 800])),
        }
        return {"field": "geo", "op": "within_km", "value": point}
    op = draw(st.sampled_from(sorted(OPERANDS)))
    field = draw(st.sampled_from(FIELDS))
    value = draw(OPERANDS[op])
    return (
        {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}
    )


PARTNERS = [
    {"id": "p1", "format": "json"},
    {"id": "p2", "format": "json"},
    {"id": "off", "format": "json", "active": False},
]

assignments = st.builds(
    lambda n, partner, category, filter: {
        "id": f"a{n}",
        "partner": partner,
        "category": category,
        "filter": filter,
    },
    st.integers(),
    st.sampled_from(["p1", "p2", "off"]),
    st.sampled_from(["ALL", "Service", " service", "Sales"]),
    st.lists(st.lists(conditions(), min_size=1, max_size=4), max_size=3),
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(st.lists(assignments, min_size=1, max_size=8))
    for n, item in enumerate(items):
        item["id"] = f"a{n}"
    profile = {
        "id": "main",
        "default": True,
        "strategy": draw(st.sampled_from(["first_match", "round_robin", "all"])),
        "assignments": items,
    }
    return {"partners": PARTNERS, "profiles": [profile]}


leads = st.builds(
    lambda state, comments, budget, year, category: {
        "lead_id": "l",
        "site_id": "s",
        "interest_category": category,
        "address": {"state": state},
        "comments": comments,
        "vehicle": {"year": year},
        "fields": {"budget": budget},
    },
    st.sampled_from(LEAD_VALUES),
    st.sampled_from(LEAD_VALUES),
    st.sampled_from(LEAD_VALUES) | st.floats(-6, 13, allow_nan=False),
    st.sampled_from(LEAD_VALUES) | st.integers(-6, 13),
    st.sampled_from(["Service", "SALES", None, "Parts"]),
)
geos = st.none() | st.builds(
    lambda lat, lon, region: Geo(lat, lon, "ip", region=region),
    st.floats(-8, 8) | st.sampled_from([0.0, 5.0, 10.0, 2.5]),
    st.floats(-8, 8),
    st.sampled_from(LEAD_VALUES[:8]) | st.none(),
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _operand_values(raw: dict[str, Any]) -> list[Any]:
    """Every constant the document's conditions compare with."""
    found: list[Any] = []
    for item in raw["profiles"][0]["assignments"]:
        for or_set in item["filter"]:
            for cond in or_set:
                value = cond.get("value")
                if isinstance(value, list):
                    found.extend(value)
                elif value is not None and not isinstance(value, dict):
                    found.append(value)
    return found


def probes(raw: dict[str, Any]) -> list[tuple[dict[str, Any], Geo | None]]:
    """Leads on the document's own values and just beside them, in every field at once: where
    range bounds, list members and case or whitespace variants are decided."""
    variants: list[Any] = [None, ""]
    for value in _operand_values(raw):
        if isinstance(value, bool):
            variants += [value, str(value).upper()]
        elif isinstance(value, int | float):
            variants += [value, value - 0.5, value + 0.5, f" {value} "]
        else:
            variants += [value, value.upper(), f" {value.lower()} "]
    found = []
    for value in variants:
        lead = {
            "lead_id": "probe",
            "site_id": "s",
            "interest_category": "Service",
            "address": {"state": value},
            "comments": value,
            "vehicle": {"year": value},
            "fields": {"budget": value},
        }
        lat = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
        )
        region = value if isinstance(value, str) else None
        found.append((lead, Geo(lat, 0.0, "ip", region=region)))
    return found


@SETTINGS
@given(documents(), st.lists(st.tuples(leads, geos), min_size=1, max_size=6))
def test_index_and_reference_agree_on_every_tier(raw, lead_geos):
    snapshot = compile_rules(validate_document(raw), "prop")
    [profile] = snapshot.profiles
    tiers = [*profile.categories.values(), profile.all_tier]
    for lead, geo in [*lead_geos, *probes(raw)]:
        view = snapshot.read(lead, geo)
        for tier in tiers:
            if tier is None:
                continue
            indexed = [a.id for a in tier.match(view)]
            plain = [a.id for a in reference.match(tier.assignments, view)]
            assert indexed == plain
            assert [a.id for a in tier.match(view, first_only=True)] == plain[:1]


@SETTINGS
@given(documents(), st.lists(st.tuples(leads, geos), min_size=1, max_size=6))
def test_the_trace_explains_exactly_the_candidates(raw, lead_geos):
    snapshot = compile_rules(validate_document(raw), "prop")
    ledger = Ledger(MemoryStore())
    for lead, geo in lead_geos:
        decision = decide(snapshot, lead, geo, ledger)
        trace = decision.explain(None)
        tiers = [entry for entry in trace if entry["step"] == "tier"]
        matched = [
            entry["assignment"]
            for entry in trace
            if entry["step"] == "assignment" and entry["matched"]
        ]
        assert matched == [name for tier in tiers for name in tier["candidates"]]
        if decision.outcome == "routed":
            assert {d.assignment for d in decision.deliveries} <= set(tiers[-1]["candidates"])


@SETTINGS
@given(documents(), st.lists(st.tuples(leads, geos), min_size=1, max_size=6))
def test_deciding_with_what_the_match_stage_found_decides_the_same(raw, lead_geos):
    """The processor matches in one stage and decides in another; dry-run does both at once."""
    snapshot = compile_rules(validate_document(raw), "prop")
    stale = compile_rules(validate_document(raw), "older")
    at_once, in_two, with_stale = (Ledger(MemoryStore()) for _ in range(3))
    for lead, geo in lead_geos:
        expected = decide(snapshot, lead, geo, at_once)
        found = match(snapshot, lead, geo)
        for ledger, matched in ((in_two, found), (with_stale, match(stale, lead, geo))):
            decision = decide(snapshot, lead, geo, ledger, matches=matched)
            assert decision.as_dict(None) == expected.as_dict(None)


one_field_conditions = (
    st.builds(
        lambda op, value: {"field": "budget", "op": op, "value": value},
        st.sampled_from(["equals", "not_equals", "gt", "gte", "lt", "lte"]),
        st.integers(0, 2),
    )
    | st.builds(
        lambda op, values: {"field": "budget", "op": op, "value": values},
        st.sampled_from(["in_list", "not_in_list"]),
        st.lists(st.integers(0, 2) | st.sampled_from(["2", "x"]), min_size=1, max_size=3),
    )
    | st.builds(
        lambda op: {"field": "budget", "op": op},
        st.sampled_from(["is_empty", "is_not_empty"]),
    )
    | st.builds(
        lambda pair: {"field": "budget", "op": "between", "value": pair},
        st.tuples(st.integers(0, 2), st.integers(0, 2)).map(_between),
    )
)


def _cond(op: str, value: Any = None) -> dict[str, Any]:
    return {"field": "budget", "op": op, **({} if value is None else {"value": value})}


@settings(SETTINGS, max_examples=400)
@given(st.lists(st.lists(one_field_conditions, min_size=1, max_size=4), min_size=1, max_size=4))
@example([[_cond("gt", 2), _cond("lt", 2)], [_cond("gte", 2), _cond("lte", 2)]])
@example([[_cond("gt", 1), _cond("lte", 1)], [_cond("gte", 2), _cond("lt", 2)]])
@example([[_cond("is_empty"), _cond("not_equals", 1)], [_cond("is_empty"), _cond("gt", 0)]])
def test_conditions_merged_on_one_field_agree(or_sets):
    """Several conditions on one field in one OR-set are merged into one constraint (an allowed
    set, an interval minus excluded values, emptiness); contradictions must never match."""
    raw = {
        "partners": [{"id": "p1", "format": "json"}],
        "profiles": [
            {
                "id": "main",
                "default": True,
                "assignments": [
                    {"id": f"a{n}", "partner": "p1", "filter": [conditions]}
                    for n, conditions in enumerate(or_sets)
                ],
            }
        ],
    }
    snapshot = compile_rules(validate_document(raw), "prop")
    tier = snapshot.profiles[0].all_tier
    assert tier is not None
    for budget in [None, "", "x", True, -1, 0, 0.5, 1, 1.5, 2, "2", 2.5, 3]:
        view = snapshot.read({"fields": {"budget": budget}}, None)
        assert [a.id for a in tier.match(view)] == [
            a.id for a in reference.match(tier.assignments, view)
        ]
