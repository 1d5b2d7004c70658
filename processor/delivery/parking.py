"""Retry partitions held until their head record is due, and how far behind their end they are.

A retry partition whose next record is not due is paused at that record, so that the worker's loop
goes on with its delivery topic and other partitions and never sleeps for a retry; the partition
resumes once the record is due. Here only the bookkeeping: the worker pauses and resumes.
"""

from __future__ import annotations

from collections.abc import Iterable

Place = tuple[str, int]
"""A topic and partition."""


class Parking:
    """The paused retry partitions with the time each falls due, and the next offset of each
    retry partition the worker has read from (for the records still waiting behind it)."""

    def __init__(self) -> None:
        self._due: dict[Place, int] = {}
        self._next: dict[Place, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def park(self, place: Place, offset: int, due_at_ms: int) -> None:
        """``place`` waits at ``offset`` until ``due_at_ms``."""
        self._due[place] = due_at_ms
        self._next[place] = offset

    def passed(self, place: Place, offset: int) -> None:
        """The worker is done with ``offset`` of ``place``."""
        self._next[place] = offset + 1

    def due(self, now_ms: int) -> list[Place]:
        """The partitions to resume now; they are no longer parked."""
        ready = [place for place, at in self._due.items() if at <= now_ms]
        for place in ready:
            del self._due[place]
        return ready

    def forget(self, places: Iterable[Place]) -> None:
        """Partitions taken from this worker: their new owner starts from the committed offsets."""
        for place in places:
            self._due.pop(place, None)
            self._next.pop(place, None)

    def behind(self, end: dict[Place, int]) -> int:
        """Records between where the worker is and ``end`` (each known partition's end offset)."""
        known = ((end[place], offset) for place, offset in self._next.items() if place in end)
        return sum(max(0, last - offset) for last, offset in known)

    @property
    def places(self) -> list[Place]:
        """The retry partitions the worker has read from."""
        return list(self._next)
