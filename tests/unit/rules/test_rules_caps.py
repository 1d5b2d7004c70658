"""Caps: a candidate over one is passed over, the next takes the lead, and the trace says why."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from processor.rules import Ledger, MemoryStore, RulesInvalid

PARTNERS = [
    {"id": "capped", "format": "json", "timezone": "America/New_York"},
    {"id": "next", "format": "json"},
    {"id": "bdc", "format": "json"},
]


def partners(**capped: Any) -> list[dict[str, Any]]:
    return [{**PARTNERS[0], **capped}, *PARTNERS[1:]]


def routed_to(rules, snapshot, ledger, times: list[str], **lead: Any) -> list[str | None]:
    found = []
    for when in times:
        decision = rules.decide(snapshot, rules.lead(submitted_at=when, **lead), ledger=ledger)
        found.append(decision.deliveries[0].partner if decision.deliveries else None)
    return found


def first_match(rules, *, price: float | None = None, **capped: Any):
    assignment = rules.assignment("a", "capped") | ({"price": price} if price else {})
    raw = rules.document(
        [assignment, rules.assignment("b", "next")], partners=partners(**capped), fallback="bdc"
    )
    return rules.snapshot(raw)


def test_a_cap_of_n_lets_n_through_and_the_next_candidate_takes_the_rest(rules):
    snapshot = first_match(rules, caps=[{"per": "day", "leads": 3}])
    ledger = Ledger(MemoryStore())
    got = routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"] * 5)
    assert got == ["capped"] * 3 + ["next"] * 2


def test_a_day_is_the_partners_local_day(rules):
    """04:59Z is still 29 November in New York; 05:00Z is the 30th, a new window."""
    snapshot = first_match(rules, caps=[{"per": "day", "leads": 1}])
    ledger = Ledger(MemoryStore())
    times = ["2026-11-30T04:00:00Z", "2026-11-30T04:59:00Z", "2026-11-30T05:00:00Z"]
    assert routed_to(rules, snapshot, ledger, times) == ["capped", "next", "capped"]


@pytest.mark.parametrize(
    ("per", "times", "expected"),
    [
        ("hour", ["2026-11-30T15:10:00Z", "2026-11-30T15:50:00Z", "2026-11-30T16:00:00Z"], 2),
        # Sunday 29 Nov and Monday 30 Nov (New York) are two ISO weeks.
        ("week", ["2026-11-29T20:00:00Z", "2026-11-30T03:00:00Z", "2026-11-30T06:00:00Z"], 2),
        # 30 Nov 23:00 New York is 1 Dec 04:00Z: still November there.
        ("month", ["2026-11-30T10:00:00Z", "2026-12-01T04:00:00Z", "2026-12-01T05:00:00Z"], 2),
        ("total", ["2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z", "2030-01-01T00:00:00Z"], 1),
    ],
)
def test_windows(rules, per, times, expected):
    snapshot = first_match(rules, caps=[{"per": per, "leads": 1}])
    got = routed_to(rules, snapshot, Ledger(MemoryStore()), times)
    assert got.count("capped") == expected


def test_the_hour_repeated_when_clocks_go_back_is_two_windows(rules):
    snapshot = first_match(rules, caps=[{"per": "hour", "leads": 1}])
    # 01:30 EDT and 01:30 EST on 1 November 2026 in New York.
    times = ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"]
    assert routed_to(rules, snapshot, Ledger(MemoryStore()), times) == ["capped", "capped"]


def test_a_revenue_cap_counts_prices_and_refuses_the_delivery_that_would_pass_it(rules):
    snapshot = first_match(
        rules, price=30.0, caps=[{"per": "day", "revenue": 100, "currency": "USD"}]
    )
    got = routed_to(rules, snapshot, Ledger(MemoryStore()), ["2026-11-30T15:00:00Z"] * 5)
    assert got == ["capped"] * 3 + ["next"] * 2  # 90 used: a fourth at 30 would make 120


def test_revenue_sums_are_exact(rules):
    """Ten deliveries at 0.1 make exactly 1.0: the cap takes the tenth."""
    snapshot = first_match(rules, price=0.1, caps=[{"per": "day", "revenue": 1, "currency": "USD"}])
    got = routed_to(rules, snapshot, Ledger(MemoryStore()), ["2026-11-30T15:00:00Z"] * 11)
    assert got == ["capped"] * 10 + ["next"]


def test_an_assignment_cap_counts_that_assignment_only(rules):
    raw = rules.document(
        [
            rules.assignment(
                "svc", "capped", category="Service", caps=[{"per": "day", "leads": 1}]
            ),
            rules.assignment("any", "capped"),
        ],
        partners=PARTNERS,
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    assignments = [
        rules.decide(snapshot, rules.lead(submitted_at="2026-11-30T15:00:00Z"), ledger=ledger)
        .deliveries[0]
        .assignment
        for _ in range(3)
    ]
    assert assignments == ["svc", "any", "any"]


def test_a_partner_cap_counts_deliveries_from_every_profile(rules):
    raw = rules.document(
        [rules.assignment("a", "capped"), rules.assignment("b", "next")],
        partners=partners(caps=[{"per": "day", "leads": 2}]),
        profiles=[
            {
                "id": "other",
                "sources": ["site-b"],
                "assignments": [rules.assignment("x", "capped"), rules.assignment("y", "bdc")],
            }
        ],
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    got = [
        rules.decide(
            snapshot, rules.lead(site_id=site, submitted_at="2026-11-30T15:00:00Z"), ledger=ledger
        )
        .deliveries[0]
        .partner
        for site in ("site-a", "site-b", "site-a", "site-b")
    ]
    assert got == ["capped", "capped", "next", "bdc"]


def test_the_trace_says_which_cap_at_what_count_of_what_limit(rules):
    snapshot = first_match(rules, caps=[{"per": "day", "leads": 1}])
    ledger = Ledger(MemoryStore())
    routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"])
    decision = rules.decide(
        snapshot, rules.lead(submitted_at="2026-11-30T16:00:00Z"), ledger=ledger
    )
    [tier] = [e for e in decision.trace if e["step"] == "tier" and e["tier"] == "all"]
    assert tier["excluded"] == ["a"] and tier["candidates"] == ["b"]
    [entry] = [e for e in decision.trace if e.get("assignment") == "a"]
    assert entry["excluded"] == (
        "capped: partner capped has 1 of 1 leads per day; resets 2026-12-01 00:00 America/New_York"
    )
    assert decision.exclusions == (("capped", "capped"),)


def test_a_capped_fallback_makes_the_lead_unroutable_with_the_reason(rules):
    raw = rules.document(
        [
            rules.assignment(
                "a", "next", filter=[[rules.condition("address.state", "equals", "CA")]]
            )
        ],
        partners=[
            {"id": "next", "format": "json"},
            {"id": "bdc", "format": "json", "caps": [{"per": "total", "leads": 1}]},
        ],
        fallback="bdc",
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    first = rules.decide(snapshot, ledger=ledger)
    second = rules.decide(snapshot, ledger=ledger)
    assert (first.outcome, second.outcome) == ("fallback", "unroutable")
    [ending] = [e for e in second.trace if e["step"] == "unroutable"]
    assert (
        "fallback partner 'bdc' is capped: partner bdc has 1 of 1 leads per total" in ending["why"]
    )


def test_all_counts_each_partner_once_and_skips_a_capped_one(rules):
    raw = rules.document(
        [rules.assignment("a", "capped"), rules.assignment("b", "next")],
        partners=partners(caps=[{"per": "day", "leads": 1}]),
        strategy="all",
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    sold = Counter()
    for _ in range(3):
        decision = rules.decide(
            snapshot, rules.lead(submitted_at="2026-11-30T15:00:00Z"), ledger=ledger
        )
        sold.update(d.partner for d in decision.deliveries)
    assert sold == {"capped": 1, "next": 3}


def test_a_rejected_routing_counts_against_no_cap(rules):
    """undo() takes back a lead's counts with the rest of its state."""
    snapshot = first_match(rules, caps=[{"per": "day", "leads": 1}])
    store = MemoryStore()
    ledger = Ledger(store)
    ledger.begin()
    routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"])
    ledger.undo()
    assert store.data == {}
    assert routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"]) == ["capped"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:00Z"])
def test_leads_at_the_ends_of_the_calendar_are_counted_too(rules, when):
    """A zone west (or east) of UTC would push them out of the calendar."""
    caps = [{"per": per, "leads": 1} for per in ("hour", "day", "week", "month")]
    snapshot = first_match(rules, caps=caps, schedule={"mon-sun": ["00:00-24:00"]})
    ledger = Ledger(MemoryStore())
    assert routed_to(rules, snapshot, ledger, [when, when]) == ["capped", "next"]


def test_a_passed_over_candidate_is_counted_once_without_a_trace(rules):
    """Without a trace first_match looks at the first match only, then further."""
    snapshot = first_match(rules, caps=[{"per": "day", "leads": 1}])
    ledger = Ledger(MemoryStore())
    routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"])
    lead = rules.lead(submitted_at="2026-11-30T16:00:00Z")
    decision = rules.decide(snapshot, lead, ledger=ledger, trace=False)
    assert decision.deliveries[0].partner == "next"
    assert decision.exclusions == (("capped", "capped"),)


def test_the_largest_prices_a_document_allows_keep_the_counters_in_range(rules):
    """Counters are stored as 64-bit integers: they stop at the most they can hold, which is past
    any limit, instead of failing every later lead to the partner."""
    snapshot = first_match(
        rules, price=1e12, caps=[{"per": "total", "revenue": 1e12, "currency": "USD"}]
    )
    ledger = Ledger(MemoryStore())
    ledger.count(b"partner/capped\x1ftotal\x1frevenue USD\x1ftotal", 2**63 - 10, None)
    got = routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"] * 2)
    assert got == ["next", "next"]
    ledger.count(b"k", 2**63 - 1, None)
    ledger.count(b"k", 2**62, None)
    assert ledger.cap_used(b"k") == 2**63 - 1


def test_a_negative_price_takes_nothing_back_from_a_revenue_cap(rules):
    snapshot = first_match(
        rules, price=-50.0, caps=[{"per": "day", "revenue": 10, "currency": "USD"}]
    )
    ledger = Ledger(MemoryStore())
    assert routed_to(rules, snapshot, ledger, ["2026-11-30T15:00:00Z"] * 3) == ["capped"] * 3
    assert ledger.cap_used(b"partner/capped\x1fday\x1frevenue USD\x1f2026-11-30") == 0


@pytest.mark.parametrize("price", [1e13, -1e13])
def test_prices_beyond_a_trillion_are_refused(rules, price):
    with pytest.raises(RulesInvalid, match=r"price: Input should be"):
        rules.snapshot(rules.document([rules.assignment("a", "p1", price=price)]))
