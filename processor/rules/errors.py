"""Why a rules document is invalid: every problem at once, each at the place it was written.

Operators fix rules documents by hand, so one run of ``rules validate`` must list every error, and
each must point at the spot in the document (``profiles[0].assignments[2].filter[1][0].op``) rather
than at a line of code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from processor.errors import InvalidInput

Location = Sequence[str | int]
"""A place in a document: keys and list positions from the root, e.g. ``("profiles", 0, "id")``."""


def format_path(location: Location) -> str:
    """``("profiles", 0, "filter", 1, 0)`` as ``profiles[0].filter[1][0]``; the root as
    ``<document>``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "<document>"


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rules document: where it is, and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class LeadWithoutId(ValueError):
    """A lead the engine cannot decide: without a lead id, no decision could name it.

    The engine's own error, not one of the command line's: decoding and ``lead_from_json`` refuse
    such a lead before it gets here, so reaching this is a caller's mistake, which the command
    line reports as invalid input.
    """


class RulesInvalid(InvalidInput):
    """A rules document that must not be used; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        self.errors: list[RuleError] = list(errors)
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.errors)
        lines = [f"the rules document is invalid ({count} error{'s' if count != 1 else ''}):"]
        lines.extend(f"  {error}" for error in self.errors)
        return "\n".join(lines)
