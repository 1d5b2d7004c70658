"""Rotation kept in the ledger: over partners for round robin, resumable from the store alone."""

from __future__ import annotations

from collections import Counter

import pytest

from processor.rules import Ledger, MemoryStore

CA = [[{"field": "address.state", "op": "equals", "value": "CA"}]]


def rotating(rules, strategy: str):
    raw = rules.document(
        [
            rules.assignment("a", "p1", weight=3),
            rules.assignment("b", "p2", weight=2),
            rules.assignment("c", "p3"),
        ],
        strategy=strategy,
    )
    return rules.snapshot(raw)


def route(rules, snapshot, ledger, leads: int) -> list[str]:
    return [rules.decide(snapshot, ledger=ledger).deliveries[0].assignment for _ in range(leads)]


@pytest.mark.parametrize("strategy", ["round_robin", "weighted"])
def test_a_ledger_over_the_same_store_continues_where_the_last_one_stopped(rules, strategy):
    snapshot = rotating(rules, strategy)
    uninterrupted = route(rules, snapshot, Ledger(MemoryStore()), 12)
    store = MemoryStore()
    first = route(rules, snapshot, Ledger(store), 5)
    assert first + route(rules, snapshot, Ledger(store), 7) == uninterrupted


def test_undo_takes_back_one_lead_whole(rules):
    snapshot = rotating(rules, "round_robin")
    store = MemoryStore()
    ledger = Ledger(store)
    route(rules, snapshot, ledger, 1)
    before = dict(store.data)
    ledger.begin()
    route(rules, snapshot, ledger, 1)
    assert store.data != before
    ledger.undo()
    assert store.data == before


def test_round_robin_rotates_over_partners_not_assignments(rules):
    """A partner listed in two assignments gets no larger share."""
    raw = rules.document(
        [rules.assignment("a1", "p1"), rules.assignment("a2", "p1"), rules.assignment("b", "p2")],
        strategy="round_robin",
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    partners = [rules.decide(snapshot, ledger=ledger).deliveries[0].partner for _ in range(10)]
    assert partners == ["p1", "p2"] * 5
    assert Counter(partners) == {"p1": 5, "p2": 5}


def test_the_least_recently_chosen_candidate_partner_goes_first(rules):
    """A partner that was not a candidate for a while is the one that waited longest."""
    raw = rules.document(
        [
            rules.assignment("a", "p1"),
            rules.assignment("b", "p2"),
            rules.assignment(
                "c", "p3", filter=[[rules.condition("address.state", "equals", "CA")]]
            ),
        ],
        strategy="round_robin",
    )
    snapshot, ledger = rules.snapshot(raw), Ledger(MemoryStore())
    ca, ny = {"address": {"state": "CA"}}, {"address": {"state": "NY"}}
    got = [
        rules.decide(snapshot, rules.lead(**where), ledger=ledger).deliveries[0].partner
        for where in (ca, ca, ca, ny, ny, ca)
    ]
    # p1, p2, p3 in document order; then p1 and p2 (p3 no candidate); then p3, chosen longest ago.
    assert got == ["p1", "p2", "p3", "p1", "p2", "p3"]


def test_partners_are_remembered_by_id_across_rules_changes(rules):
    before = rules.snapshot(
        rules.document(
            [rules.assignment("a", "p1"), rules.assignment("b", "p2")], strategy="round_robin"
        )
    )
    ledger = Ledger(MemoryStore())
    route(rules, before, ledger, 1)  # chose p1
    after = rules.snapshot(
        rules.document(
            [
                rules.assignment("new", "p3"),
                rules.assignment("a", "p1"),
                rules.assignment("b", "p2"),
            ],
            strategy="round_robin",
        )
    )
    # p3 and p2 were never chosen: document order; then p1, chosen longest ago.
    assert route(rules, after, ledger, 3) == ["new", "b", "a"]


@pytest.mark.parametrize("value", [b"not json", b"[]", b'{"tick": "x", "chosen": []}', b"\xff"])
def test_an_unreadable_rotation_value_counts_as_no_rotation_yet(rules, value):
    """The changelog is a topic others could write to: junk there must not stop routing."""
    snapshot = rotating(rules, "round_robin")
    store = MemoryStore()
    store.set(b"rr\x1fmain", value)
    assert route(rules, snapshot, Ledger(store), 3) == ["a", "b", "c"]
