"""The plain evaluator: every condition of every assignment of a tier, evaluated in order.

It is the reference the condition index is held to (property tests compare the two on random
documents and leads), and it is what traces use to explain a decision, one assignment at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from processor.rules.conditions import Check
from processor.rules.fields import LeadView

if TYPE_CHECKING:
    from processor.rules.snapshot import CompiledAssignment


def holds(assignment: CompiledAssignment, view: LeadView) -> bool:
    """Whether the assignment's filter matches: any OR-set whose conditions all hold."""
    if not assignment.filter:
        return True
    for checks in assignment.filter:
        for check in checks:
            if not check.test(view):
                break
        else:
            return True
    return False


def match(assignments: Sequence[CompiledAssignment], view: LeadView) -> list[CompiledAssignment]:
    """The assignments that match and whose partner is active, in document order."""
    return [a for a in assignments if a.partner.active and holds(a, view)]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an assignment's filter matched or not.

    ``or_set`` is the position of the first OR-set that held (None for a catch-all ``[]`` filter,
    or when none held); ``failures`` pairs each OR-set's position with its first failing check.
    """

    matched: bool
    or_set: int | None
    failures: tuple[tuple[int, Check], ...] = ()


def explain(assignment: CompiledAssignment, view: LeadView) -> Explanation:
    if not assignment.filter:
        return Explanation(True, None)
    failures = []
    for position, checks in enumerate(assignment.filter):
        failed = next((check for check in checks if not check.test(view)), None)
        if failed is None:
            return Explanation(True, position)
        failures.append((position, failed))
    return Explanation(False, None, tuple(failures))
