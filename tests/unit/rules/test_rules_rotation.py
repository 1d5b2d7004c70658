"""Rotation state: a small value the stream processor copies, persists and restores."""

from __future__ import annotations

import pytest

from processor.errors import InvalidInput
from processor.rules import RotationState


def rotating(rules, strategy: str):
    raw = rules.document(
        [rules.assignment("a", weight=3), rules.assignment("b", weight=2), rules.assignment("c")],
        strategy=strategy,
    )
    return rules.snapshot(raw)


def route(rules, snapshot, rotation, leads: int) -> list[str]:
    return [
        rules.decide(snapshot, rotation=rotation).deliveries[0].assignment for _ in range(leads)
    ]


@pytest.mark.parametrize("strategy", ["round_robin", "weighted"])
def test_a_restored_state_continues_where_the_saved_one_stopped(rules, strategy):
    snapshot = rotating(rules, strategy)
    uninterrupted = route(rules, snapshot, RotationState(), 12)
    rotation = RotationState()
    first = route(rules, snapshot, rotation, 5)
    restored = RotationState.from_json(rotation.to_json())
    assert restored == rotation
    assert first + route(rules, snapshot, restored, 7) == uninterrupted


def test_a_copy_is_independent(rules):
    snapshot = rotating(rules, "weighted")
    rotation = RotationState()
    route(rules, snapshot, rotation, 2)
    before = rotation.copy()
    route(rules, snapshot, rotation, 3)
    assert before != rotation
    assert before.to_json() != rotation.to_json()
    again = before.copy()
    assert route(rules, snapshot, before, 3) == route(rules, snapshot, again, 3)


def test_rolling_back_to_a_copy_replays_the_same_choices(rules):
    snapshot = rotating(rules, "round_robin")
    rotation = RotationState()
    route(rules, snapshot, rotation, 1)
    at_start = rotation.copy()  # a transaction starts
    aborted = route(rules, snapshot, rotation, 2)  # ... and aborts
    assert route(rules, snapshot, at_start, 2) == aborted


def test_assignments_are_remembered_by_id(rules):
    before = rules.snapshot(
        rules.document([rules.assignment("a"), rules.assignment("b")], strategy="round_robin")
    )
    rotation = RotationState()
    route(rules, before, rotation, 1)  # chose a
    after = rules.snapshot(
        rules.document(
            [rules.assignment("new"), rules.assignment("a"), rules.assignment("b")],
            strategy="round_robin",
        )
    )
    assert route(rules, after, rotation, 2) == ["b", "new"]


def test_an_assignment_that_is_gone_counts_as_never_chosen(rules):
    rotation = RotationState()
    rotation.chose("main", "deleted")
    snapshot = rules.snapshot(
        rules.document([rules.assignment("a"), rules.assignment("b")], strategy="round_robin")
    )
    assert route(rules, snapshot, rotation, 1) == ["a"]


def test_json_is_compact_and_stable():
    rotation = RotationState()
    rotation.chose("p", "a")
    rotation.scores("q").update({"x": 2, "y": -2})
    assert rotation.to_json() == (
        b'{"round_robin":{"p":"a"},"version":1,"weighted":{"q":{"x":2,"y":-2}}}'
    )
    assert RotationState().to_json() == b'{"round_robin":{},"version":1,"weighted":{}}'


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "round_robin": {"p": 3}}',
        b'{"version": 1, "weighted": {"p": {"a": "x"}}}',
        b'{"version": 1, "weighted": {"p": {"a": true}}}',
        b"\xff",
    ],
)
def test_malformed_state_is_refused(data):
    with pytest.raises(InvalidInput, match="rotation state"):
        RotationState.from_json(data)
