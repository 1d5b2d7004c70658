"""The trace: why a lead went where it went, and what it must never show."""

from __future__ import annotations

import json

from processor.geometry.geo import Geo
from processor.jsontext import dumps
from processor.rules import Ledger, MemoryStore
from processor.rules.explain import explain_text
from processor.rules.trace import TRACE_MAX_BYTES

CA_RICH = [
    {"field": "address.state", "op": "equals", "value": "CA"},
    {"field": "budget", "op": "gte", "value": 100000},
]
NY = [{"field": "address.state", "op": "equals", "value": "NY"}]


def steps(trace, name):
    return [entry for entry in trace if entry["step"] == name]


def test_profile_step_says_why(rules):
    raw = rules.document(profiles=[{"id": "d", "default": True}])
    [by_source] = steps(rules.decide(raw).trace, "profile")
    assert by_source == {
        "step": "profile",
        "profile": "main",
        "why": "site_id 'site-a' is one of its sources",
    }
    [by_default] = steps(rules.decide(raw, rules.lead(site_id="zzz")).trace, "profile")
    assert by_default["profile"] == "d" and "default profile" in by_default["why"]


def test_which_or_set_held(rules):
    raw = rules.document([rules.assignment("a", filter=[CA_RICH, NY])])
    decision = rules.decide(raw, rules.lead(address={"state": "ny"}))
    [entry] = steps(decision.trace, "assignment")
    assert entry == {
        "step": "assignment",
        "assignment": "a",
        "partner": "p1",
        "matched": True,
        "or_set": 1,
    }


def test_which_condition_failed_and_with_what_value(rules):
    raw = rules.document([rules.assignment("a", filter=[CA_RICH, NY])], fallback="bdc")
    lead = rules.lead(address={"state": "CA"}, fields={"budget": "90000"})
    [entry] = steps(rules.decide(raw, lead).trace, "assignment")
    assert entry["matched"] is False
    assert entry["failed"] == [
        {"or_set": 0, "field": "budget", "op": "gte", "value": 100000, "actual": "90000"},
        {"or_set": 1, "field": "address.state", "op": "equals", "value": "NY", "actual": "CA"},
    ]
    assert steps(rules.decide(raw, lead).trace, "fallback")[0]["partner"] == "bdc"


def test_tiers_tried_and_their_candidates(rules):
    raw = rules.document(
        [
            rules.assignment("svc", category="Service", filter=[NY]),
            rules.assignment("x"),
            rules.assignment("y"),
        ]
    )
    tiers = steps(rules.decide(raw).trace, "tier")
    assert tiers == [
        {
            "step": "tier",
            "tier": "category",
            "category": "Service",
            "assignments": 1,
            "candidates": [],
        },
        {
            "step": "tier",
            "tier": "all",
            "category": None,
            "assignments": 2,
            "candidates": ["x", "y"],
        },
    ]


def test_inactive_partner_is_named(rules):
    partners = [{"id": "p1", "format": "json", "active": False}, {"id": "p2", "format": "json"}]
    raw = rules.document(
        [rules.assignment("off", "p1"), rules.assignment("on", "p2")], partners=partners
    )
    entries = steps(rules.decide(raw).trace, "assignment")
    assert entries[0] == {
        "step": "assignment",
        "assignment": "off",
        "partner": "p1",
        "matched": False,
        "why": "partner 'p1' is inactive",
    }


def test_strategy_step_records_what_rotation_knew(rules):
    raw = rules.document(
        [rules.assignment("a", "p1"), rules.assignment("b", "p2")], strategy="round_robin"
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    rules.decide(snapshot, ledger=ledger)
    [strategy] = steps(rules.decide(snapshot, ledger=ledger).trace, "strategy")
    assert strategy == {
        "step": "strategy",
        "strategy": "round_robin",
        "candidates": ["a", "b"],
        "chosen": ["b"],
        "least_recent_first": ["p2", "p1"],
    }


def test_the_trace_is_built_from_the_state_at_decision_time(rules):
    raw = rules.document(
        [rules.assignment("a", weight=2), rules.assignment("b")], strategy="weighted"
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    first = rules.decide(snapshot, ledger=ledger)
    rules.decide(snapshot, ledger=ledger)
    [strategy] = steps(first.trace, "strategy")  # read after the second lead changed the scores
    assert strategy["scores_before"] == {"a": 0, "b": 0}


def test_nearest_store_step(rules):
    partners = [
        {"id": "near", "format": "json", "location": {"lat": 52.52, "lon": 13.40}},
        {"id": "far", "format": "json", "location": {"lat": 48.14, "lon": 11.58}},
    ]
    raw = rules.document(
        [rules.assignment("far", "far"), rules.assignment("near", "near")],
        partners=partners,
        nearest_store={"enabled": True},
    )
    [step] = steps(rules.decide(raw, geo=Geo(52.39, 13.06, "coords")).trace, "nearest_store")
    assert (step["partner"], step["kept"]) == ("near", ["near"])
    assert 20 < step["distance_km"] < 30
    [step] = steps(rules.decide(raw, geo=None).trace, "nearest_store")
    assert step["why"] == "the lead has no geolocation; nothing changes"


def test_geo_notes_open_the_trace(rules):
    decision = rules.decide(
        rules.document(), notes=("visitor coordinates are (0, 0), a placeholder",)
    )
    assert decision.trace[0] == {
        "step": "geo",
        "notes": ["visitor coordinates are (0, 0), a placeholder"],
    }


def test_non_matching_assignments_are_explained_up_to_a_limit(rules):
    raw = rules.document(
        [rules.assignment(f"a{n}", filter=[NY]) for n in range(30)] + [rules.assignment("hit")]
    )
    decision = rules.decide(raw)
    assignments = steps(decision.trace, "assignment")
    assert [entry["assignment"] for entry in assignments] == [f"a{n}" for n in range(20)] + ["hit"]
    [hidden] = steps(decision.trace, "not_shown")
    assert hidden["assignments"] == 10
    assert len(steps(decision.explain(None), "assignment")) == 31
    assert len(steps(decision.as_dict(0)["trace"], "assignment")) == 1


def test_without_trace_nothing_is_recorded(rules):
    decision = rules.decide(rules.document([rules.assignment("a")]), trace=False)
    assert decision.trace == [] and decision.as_dict()["trace"] == []
    assert decision.outcome == "routed"


def test_encrypted_fields_never_appear(rules):
    fields = {"ssn": {"type": "string", "encrypted": True}, "budget": {"type": "number"}}
    raw = rules.document(
        [rules.assignment("a", filter=[[{"field": "budget", "op": "gt", "value": 10**9}]])],
        fields=fields,
        fallback="bdc",
    )
    lead = rules.lead(fields={"ssn": "123-45-6789", "budget": 5})
    text = json.dumps(rules.decide(raw, lead).explain(None))
    assert "123-45-6789" not in text and '"actual": 5' in text


def test_long_values_are_cut(rules):
    raw = rules.document(
        [rules.assignment("a", filter=[[{"field": "comments", "op": "contains", "value": "zz"}]])]
    )
    [entry] = steps(rules.decide(raw, rules.lead(comments="x" * 500)).trace, "assignment")
    assert entry["failed"][0]["actual"] == "x" * 100 + "… (500 characters)"


POSTCODES = [f"{n:06d}" for n in range(100_000)]


def huge_lists(rules):
    """Two tiers, each with an assignment whose in_list holds 100,000 postcodes."""
    in_list = {"field": "address.postcode", "op": "in_list", "value": POSTCODES}
    return rules.document(
        [
            rules.assignment("svc", category="Service", filter=[[in_list]]),
            rules.assignment("any", filter=[[in_list]]),
        ],
        fallback="p1",
    )


def test_a_long_list_is_shown_by_its_first_items_and_its_length(rules):
    lead = rules.lead(interest_category="Service", address={"postcode": "ZZ-1"})
    decision = rules.decide(huge_lists(rules), lead)
    assert decision.outcome == "fallback"
    entries = steps(decision.trace, "assignment")
    assert [entry["failed"][0]["value"] for entry in entries] == [
        {"first": POSTCODES[:5], "count": 100_000}
    ] * 2


def test_a_trace_of_rules_with_huge_lists_stays_small(rules):
    """Each condition's value is at most 5 items of 100 characters and a count; the trace of a
    lead that fails two 100,000-item lists weighs what any other trace weighs."""
    lead = rules.lead(interest_category="Service", address={"postcode": "ZZ-1"})
    decision = rules.decide(huge_lists(rules), lead)
    assert len(json.dumps(decision.explain()).encode()) < 2_000
    assert len(json.dumps(decision.explain(None)).encode()) < 2_000


def test_a_trace_is_cut_at_its_byte_limit_saying_how_much_is_left_out(rules):
    """However many assignments are explained, the encoded trace stays within its limit."""
    pattern = {"field": "comments", "op": "matches", "value": "z" * 300}
    raw = rules.document([rules.assignment(f"a{i}", filter=[[pattern]]) for i in range(1_000)])
    decision = rules.decide(raw, rules.lead(comments="x" * 5_000))
    for limit in (TRACE_MAX_BYTES, 10_000):
        trace = decision.explain(None, limit)
        assert len(dumps(trace).encode()) <= limit  # as the audit record writes it
        cut = trace[-1]
        assert cut["step"] == "cut" and cut["why"] == f"the trace is cut at {limit} bytes"
        assert len(trace) - 1 + cut["entries"] == len(decision.explain(None, None))
    assert len(steps(decision.explain(None, None), "assignment")) == 1_000  # no limit: all


def test_the_prose_of_a_bounded_trace_names_the_list_length_and_the_cut(rules):
    lead = rules.lead(interest_category="Service", address={"postcode": "ZZ-1"})
    decision = rules.decide(huge_lists(rules), lead)
    trace = [*decision.trace, {"step": "cut", "entries": 7, "why": "the trace is cut at 10 bytes"}]
    text = explain_text(decision.outcome, trace, decision.as_dict())
    first = ", ".join(repr(code) for code in POSTCODES[:5])
    assert f"address.postcode in_list [{first}, …] (100000 items) failed" in text
    assert "7 more entries left out: the trace is cut at 10 bytes" in text
