"""How sending to one destination ended, and the two ways it can fail.

A destination either takes the payload, refuses it for good (:class:`Refused`: sending the same
payload again would be refused again), or cannot take it now (:class:`Unavailable`: a timeout, a
connection refused, HTTP 503, SMTP 451; a later try may succeed). Only the latter is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["delivered", "failed", "rejected"]
"""A receipt's status: also the status of one destination's outcome."""


class Refused(Exception):
    """The destination refused the payload, or cannot be used at all; its message says why."""


class Unavailable(Exception):
    """The destination did not take the payload this time; its message says what happened."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one destination did: ``where`` is the destination without secrets or mailbox names."""

    where: str
    status: Status
    answer: str
    attempts: int

    def __str__(self) -> str:
        tries = f" after {self.attempts} tries" if self.attempts > 1 else ""
        return f"{self.where}: {self.answer}{tries}"


def overall(outcomes: list[Outcome]) -> Status:
    """A delivery's status: delivered when every destination took it; failed when one may yet
    (a retry could help); else rejected (also when there is no destination at all)."""
    if outcomes and all(outcome.status == "delivered" for outcome in outcomes):
        return "delivered"
    if any(outcome.status == "failed" for outcome in outcomes):
        return "failed"
    return "rejected"
