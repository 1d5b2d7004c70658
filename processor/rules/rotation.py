"""Rotation state: what ``round_robin`` and ``weighted`` remember between leads.

The stream processor keeps one per input partition, snapshots it with :meth:`RotationState.copy`
when a transaction starts (to roll back on abort) and persists :meth:`RotationState.to_json` with
the transaction, so rotation resumes where it stopped after a restart or rebalance. Assignments are
remembered by id, not position, so a rules change that inserts assignments does not shift whose
turn it is.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from processor.errors import InvalidInput

FORMAT_VERSION = 1

_T = TypeVar("_T")


class RotationState:
    """Per profile: the assignment round robin chose last, and each assignment's weighted score."""

    __slots__ = ("_last", "_saved", "_scores")

    def __init__(self) -> None:
        self._last: dict[str, str] = {}
        self._scores: dict[str, dict[str, int]] = {}
        self._saved: dict[str, tuple[str | None, dict[str, int] | None]] | None = None

    def last_chosen(self, profile: str) -> str | None:
        """The assignment round robin chose last for ``profile``, or None before its first lead."""
        return self._last.get(profile)

    def chose(self, profile: str, assignment: str) -> None:
        self._save(profile)
        self._last[profile] = assignment

    def scores(self, profile: str) -> dict[str, int]:
        """The running smooth-weighted scores of ``profile``'s assignments (missing ones are 0).

        The dict is the state itself: the weighted strategy updates it in place.
        """
        self._save(profile)
        return self._scores.setdefault(profile, {})

    def begin(self) -> None:
        """Starts remembering each change, for :meth:`undo` to take back (one lead's, say)."""
        self._saved = {}

    def undo(self) -> None:
        """Puts back what was changed since :meth:`begin`: a lead whose routing was stopped part
        way (dead-lettered as too-slow) leaves rotation as if it had never come."""
        saved, self._saved = self._saved or {}, None
        for profile, (last, scores) in saved.items():
            _put(self._last, profile, last)
            _put(self._scores, profile, scores)

    def _save(self, profile: str) -> None:
        if self._saved is not None and profile not in self._saved:
            scores = self._scores.get(profile)
            self._saved[profile] = (
                self._last.get(profile),
                None if scores is None else dict(scores),
            )

    def copy(self) -> RotationState:
        state = RotationState()
        state._last = dict(self._last)
        state._scores = {profile: dict(scores) for profile, scores in self._scores.items()}
        return state

    def to_json(self) -> bytes:
        data = {
            "version": FORMAT_VERSION,
            "round_robin": self._last,
            "weighted": {profile: scores for profile, scores in self._scores.items() if scores},
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RotationState:
        """The state :meth:`to_json` wrote; :class:`InvalidInput` when ``data`` is not one."""
        try:
            parsed: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise InvalidInput(f"rotation state is not JSON: {error}") from None
        if not isinstance(parsed, dict) or parsed.get("version") != FORMAT_VERSION:
            raise InvalidInput(f"rotation state is not version {FORMAT_VERSION} rotation state")
        last, scores = parsed.get("round_robin", {}), parsed.get("weighted", {})
        if not _string_map(last, str) or not isinstance(scores, dict):
            raise InvalidInput("rotation state has a malformed round_robin or weighted part")
        if not all(isinstance(p, str) and _string_map(s, int) for p, s in scores.items()):
            raise InvalidInput("rotation state has malformed weighted scores")
        state = cls()
        state._last = dict(last)
        state._scores = {profile: dict(values) for profile, values in scores.items()}
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RotationState):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"RotationState({self.to_json().decode()})"


def _put(mapping: dict[str, _T], key: str, value: _T | None) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _string_map(value: object, kind: type) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, kind) and not isinstance(v, bool)
        for k, v in value.items()
    )
