"""Re-offers and returns in routing: each delivery is remembered, a re-offer decides the lead
again without the partners it was offered to, and a delivery settles once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from processor.rules import Ledger, MemoryStore
from processor.rules.deliveries import delivery_id
from processor.rules.ledger import Sold, epoch_ms
from processor.rules.settle import (
    Refused,
    check_reoffer,
    judge_return,
    offers_returned,
    reoffer_for,
    settle,
)

LEAD_AT = "2024-05-01T12:00:00Z"
LEAD_MS = epoch_ms(datetime(2024, 5, 1, 12, tzinfo=UTC))
DAY_MS = 86_400_000

PARTNERS: list[dict[str, Any]] = [
    {"id": "p1", "format": "json", "caps": [{"per": "day", "leads": 1}]},
    {"id": "p2", "format": "json"},
    {"id": "p3", "format": "json"},
    {"id": "bdc", "format": "json"},
]


def document(rules, strategy: str = "first_match", **profile: Any) -> dict[str, Any]:
    assignments = [rules.assignment(a, p) for a, p in (("a", "p1"), ("b", "p2"), ("c", "p3"))]
    return rules.document(assignments, partners=PARTNERS, strategy=strategy, **profile)


def reoffered(rules, snapshot, ledger, lead, partner: str, why: str = "exhausted"):
    """The lead's delivery to ``partner`` given up on, settled, and the lead decided again."""
    sold = check_reoffer(ledger, delivery_id(lead["lead_id"], partner), partner, lead["lead_id"])
    assert isinstance(sold, Sold)
    settle(ledger, sold, "reoffered")
    return rules.decide(snapshot, lead, ledger=ledger, reoffer=reoffer_for(sold, why))


def test_each_delivery_is_remembered_with_what_it_counted(rules):
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    decision = rules.decide(document(rules), lead, ledger=ledger, body=b"avro")
    assert [d.partner for d in decision.deliveries] == ["p1"]
    sold = ledger.sold(delivery_id(lead["lead_id"], "p1"))
    assert sold is not None
    assert (sold.lead_id, sold.partner, sold.profile, sold.attempt) == (
        lead["lead_id"],
        "p1",
        "main",
        1,
    )
    assert (sold.at_ms, sold.settled, sold.offered) == (
        LEAD_MS,
        "open",
        ("p1",),
    )
    assert [amount for _, amount in sold.counted] == [1]
    assert sold.lead is None, "the partner's policy does not offer a returned lead again"


def test_the_lead_is_kept_only_for_a_partner_that_offers_returned_leads_again(rules):
    raw = document(rules)
    raw["partners"][0]["delivery"] = {"returns": {"reoffer": True}}
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(raw, lead, ledger=ledger, body=b"avro")
    sold = ledger.sold(delivery_id(lead["lead_id"], "p1"))
    assert sold is not None and sold.lead == b"avro"
    assert offers_returned(rules.snapshot(raw), sold)
    assert Sold.from_json(sold.as_json()) == sold


def test_a_reoffer_leaves_out_the_partners_offered_and_gives_the_cap_unit_back(rules):
    snapshot = rules.snapshot(document(rules))
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    again = reoffered(rules, snapshot, ledger, lead, "p1", "partner p1 gave up: 503")
    assert [d.partner for d in again.deliveries] == ["p2"]
    assert (again.outcome, again.attempt) == ("routed", 2)
    assert again.reoffer_of == delivery_id(lead["lead_id"], "p1")
    assert ("p1", "offered") in again.exclusions
    assert again.trace[0]["step"] == "reoffer"
    assert again.trace[0]["why"] == "partner p1 gave up: 503"
    third = reoffered(rules, snapshot, ledger, lead, "p2")
    assert [d.partner for d in third.deliveries] == ["p3"]
    assert third.attempt == 3
    # p1's unit came back: the next lead of the day is p1's again.
    following = rules.decide(snapshot, rules.lead(submitted_at=LEAD_AT), ledger=ledger)
    assert [d.partner for d in following.deliveries] == ["p1"]


def test_a_reoffer_makes_one_delivery_whatever_the_strategy(rules):
    snapshot = rules.snapshot(document(rules, strategy="all"))
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    first = rules.decide(snapshot, lead, ledger=ledger)
    assert [d.partner for d in first.deliveries] == ["p1", "p2", "p3"]
    sold = ledger.sold(delivery_id(lead["lead_id"], "p1"))
    assert sold is not None and sold.offered == ("p1", "p2", "p3")
    # Every partner of the first decision had the lead: nothing is left but the fallback.
    again = reoffered(rules, snapshot, ledger, lead, "p1")
    assert again.outcome == "unroutable"


def test_a_reoffer_under_strategy_all_goes_to_one_new_partner(rules):
    raw = document(rules, strategy="all")
    raw["profiles"][0]["assignments"][2]["filter"] = [[{"field": "comments", "op": "is_not_empty"}]]
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    assert [d.partner for d in rules.decide(raw, lead, ledger=ledger).deliveries] == ["p1", "p2"]
    # New rules: p3 and the fallback match every lead now.
    raw["profiles"][0]["assignments"][2].pop("filter")
    raw["profiles"][0]["assignments"].append(rules.assignment("d", "bdc"))
    snapshot = rules.snapshot(raw)
    again = reoffered(rules, snapshot, ledger, lead, "p2")
    assert [d.partner for d in again.deliveries] == ["p3"]
    assert again.trace[-1]["one_delivery"]
    # p1's delivery knew nothing of p3's, yet p3 has the lead: its re-offer goes on to bdc.
    last = reoffered(rules, snapshot, ledger, lead, "p1")
    assert [d.partner for d in last.deliveries] == ["bdc"]
    assert ("p3", "offered") in last.exclusions


def test_a_reoffer_is_no_duplicate_of_itself_but_other_leads_still_are(rules):
    raw = document(rules, duplicates={"keys": ["contact.last_name"], "within": "1d"})
    snapshot = rules.snapshot(raw)
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    again = reoffered(rules, snapshot, ledger, lead, "p1")
    assert again.outcome == "routed" and again.duplicate_of is None
    same_person = rules.decide(snapshot, rules.lead(submitted_at=LEAD_AT), ledger=ledger)
    assert (same_person.outcome, same_person.duplicate_of) == ("duplicate", lead["lead_id"])
    # Its lead id keeps its first decision: the lead published again is still a duplicate.
    assert rules.decide(snapshot, lead, ledger=ledger).outcome == "duplicate"


def test_a_fallback_offered_before_is_left_out(rules):
    raw = rules.document([rules.assignment("a", "p2")], partners=PARTNERS, fallback="bdc")
    snapshot = rules.snapshot(raw)
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    again = reoffered(rules, snapshot, ledger, lead, "p2")
    assert [d.partner for d in again.deliveries] == ["bdc"] and again.outcome == "fallback"
    last = reoffered(rules, snapshot, ledger, lead, "bdc")
    assert last.outcome == "unroutable" and not last.deliveries
    assert "'bdc'" in last.trace[-1]["why"] and "offered" in last.trace[-1]["why"]


@pytest.mark.parametrize(
    ("partner", "lead_id", "reason"),
    [("p2", None, "reoffer-mismatch"), ("p1", "another", "reoffer-mismatch")],
)
def test_a_reoffer_that_is_not_the_deliverys_is_refused(rules, partner, lead_id, reason):
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(document(rules), lead, ledger=ledger)
    named = delivery_id(lead["lead_id"], "p1")
    refused = check_reoffer(ledger, named, partner, lead_id or lead["lead_id"])
    assert isinstance(refused, Refused) and refused.reason == reason


def test_a_delivery_is_reoffered_once_and_an_unknown_one_never(rules):
    snapshot = rules.snapshot(document(rules))
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    reoffered(rules, snapshot, ledger, lead, "p1")
    named = delivery_id(lead["lead_id"], "p1")
    twice = check_reoffer(ledger, named, "p1", lead["lead_id"])
    assert twice == Refused("reoffer-settled", "the delivery was reoffered before")
    unknown = check_reoffer(ledger, delivery_id("nobody", "p1"), "p1", "nobody")
    assert isinstance(unknown, Refused) and unknown.reason == "reoffer-unknown"


def test_a_return_within_the_window_is_credited_once(rules):
    raw = document(rules)
    raw["partners"][0]["delivery"] = {"returns": {"window": "2d"}}
    snapshot = rules.snapshot(raw)
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    named = delivery_id(lead["lead_id"], "p1")
    assert judge_return(snapshot, ledger, named, LEAD_MS + 3 * DAY_MS) == "after the 2d window"
    sold = judge_return(snapshot, ledger, named, LEAD_MS + 2 * DAY_MS)
    assert isinstance(sold, Sold)
    # Before the credit, p1's cap of one a day is used.
    second = rules.decide(snapshot, rules.lead(submitted_at=LEAD_AT), ledger=ledger)
    assert [d.partner for d in second.deliveries] == ["p2"]
    settle(ledger, sold, "returned")
    third = rules.decide(snapshot, rules.lead(submitted_at=LEAD_AT), ledger=ledger)
    assert [d.partner for d in third.deliveries] == ["p1"]
    assert judge_return(snapshot, ledger, named, LEAD_MS) == "returned before"


def test_a_return_of_an_unknown_or_reoffered_delivery_is_refused(rules):
    raw = document(rules)
    snapshot = rules.snapshot(raw)
    ledger = Ledger(MemoryStore())
    lead = rules.lead(submitted_at=LEAD_AT)
    rules.decide(snapshot, lead, ledger=ledger)
    assert judge_return(snapshot, ledger, "no-such-id", LEAD_MS) == "no such delivery"
    reoffered(rules, snapshot, ledger, lead, "p1")
    named = delivery_id(lead["lead_id"], "p1")
    assert judge_return(snapshot, ledger, named, LEAD_MS) == "was re-offered: never sold"
    # p2's partner is gone from the rules: its return has the default window of 7 days.
    raw["partners"] = [p for p in raw["partners"] if p["id"] != "p2"]
    raw["profiles"][0]["assignments"].pop(1)
    newer = rules.snapshot(raw)
    p2 = delivery_id(lead["lead_id"], "p2")
    assert isinstance(judge_return(newer, ledger, p2, LEAD_MS + 7 * DAY_MS), Sold)
    assert judge_return(newer, ledger, p2, LEAD_MS + 7 * DAY_MS + 1) == "after the 7d window"


def test_a_stored_delivery_that_is_not_one_reads_as_absent():
    store = MemoryStore()
    ledger = Ledger(store)
    sold = Sold("d", "l", "p", "main", 1.0, "USD", 0, ((b"k", 1),), ("p",), lead=b"x")
    ledger.sell(sold)
    assert ledger.sold("d") == sold
    (key,) = [k for k in store.data if k.startswith(b"dlv")]
    store.data[key] = store.data[key].replace(b'"lead":"eA=="', b'"lead":"not base64!"')
    assert ledger.sold("d") is None


def test_a_reoffer_that_repeats_another_leads_person_is_a_numbered_duplicate(rules):
    """The person rule came back after the lead was sold: its re-offer repeats the first lead."""
    with_rule = rules.snapshot(
        document(rules, duplicates={"keys": ["contact.last_name"], "within": "1d"})
    )
    without = rules.snapshot(document(rules))
    ledger = Ledger(MemoryStore())
    rules.decide(with_rule, rules.lead(submitted_at=LEAD_AT), ledger=ledger)
    lead = rules.lead(submitted_at=LEAD_AT)
    assert rules.decide(without, lead, ledger=ledger).outcome == "routed"
    again = reoffered(rules, with_rule, ledger, lead, "p2")
    assert (again.outcome, again.duplicate_of) == ("duplicate", "lead-1")
    assert (again.attempt, again.reoffer_of) == (2, delivery_id(lead["lead_id"], "p2"))
