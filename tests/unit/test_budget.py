"""The routing budget stops a routing that runs too long, and nothing after it."""

from __future__ import annotations

import threading
import time

import pytest

from processor.budget import RoutingBudget, TooSlow

NEVER_S = 60.0
"""How long the blocks below would run if nothing stopped them."""


def spin(seconds: float) -> float:
    """Busy Python code (no sleep, no I/O): what a runaway routing looks like."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        pass
    return time.monotonic() - started


def test_in_the_main_thread_a_block_over_budget_is_interrupted() -> None:
    budget = RoutingBudget(0.05)
    assert budget.interrupts
    started = time.monotonic()
    stopped = pytest.raises(TooSlow, match="routing was stopped after taking more than its budget")
    with stopped, budget.limit():
        spin(NEVER_S)
    assert time.monotonic() - started < NEVER_S / 2  # stopped, not waited out


def test_nothing_is_interrupted_after_the_block() -> None:
    budget = RoutingBudget(0.05)
    with budget.limit():
        pass
    assert spin(0.2) >= 0.2  # four budgets later, the timer has not gone off


def test_a_block_within_budget_runs_to_its_end() -> None:
    with RoutingBudget(10.0).limit():
        assert spin(0.01) >= 0.01


def test_in_another_thread_a_block_over_budget_is_refused_when_it_returns() -> None:
    """Signals reach only the main thread: there the budget is checked after the block."""
    outcome: list[object] = []

    def route() -> None:
        budget = RoutingBudget(0.05)
        outcome.append(budget.interrupts)
        try:
            with budget.limit():
                spin(0.2)
        except TooSlow as slow:
            outcome.append(str(slow))

    thread = threading.Thread(target=route)
    thread.start()
    thread.join(NEVER_S)
    interrupts, message = outcome
    assert interrupts is False
    assert isinstance(message, str) and message.startswith("routing took ")
    assert message.endswith(" ms, more than its budget of 50 ms")
