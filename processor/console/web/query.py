"""A page's query string read as typed, bounded values, each bad one refused with a message.

Query strings are typed by people and pasted from links anyone can write: every value is cut
to a length, checked against what it may be, and a bad one becomes a sentence on the page
(and a 400), never a traceback or a query the index cannot answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime

from starlette.datastructures import QueryParams

from processor.console.index.schema import DAY_MS
from processor.rules.durations import parse_duration

TEXT_MAX = 200
"""The longest id or name searched for; longer ones are refused rather than cut (a cut id
would find another lead)."""

_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURSOR = re.compile(r"(\d{1,15}),(\d{1,18})")


class Query:
    """The query string of one request; ``errors`` lists what was refused."""

    def __init__(self, params: QueryParams) -> None:
        self._params = params
        self.errors: list[str] = []

    def raw(self, name: str) -> str:
        """The value as typed (bounded), to show again in the form."""
        return self._params.get(name, "")[: TEXT_MAX + 1]

    def text(self, name: str, label: str) -> str | None:
        """A free-text filter; None when empty."""
        value = self._params.get(name, "").strip()
        if len(value) > TEXT_MAX:
            self.errors.append(f"{label}: at most {TEXT_MAX} characters")
            return None
        return value or None

    def choice(self, name: str, label: str, allowed: Collection[str]) -> str | None:
        value = self._params.get(name, "").strip()
        if not value:
            return None
        if value not in allowed:
            self.errors.append(f"{label}: give one of {', '.join(sorted(allowed))}")
            return None
        return value

    def integer(self, name: str, label: str, low: int, high: int, default: int) -> int:
        value = self._params.get(name, "").strip()
        if not value:
            return default
        if not (
            value.isascii() and value.isdigit() and len(value) <= 12 and low <= int(value) <= high
        ):
            self.errors.append(f"{label}: a whole number from {low} to {high}")
            return default
        return int(value)

    def moment(self, name: str, label: str, now_ms: int) -> int | None:
        """A time, in epoch ms: ``2026-11-30T09:00`` (UTC) or a span back from now, ``24h``."""
        value = self._params.get(name, "").strip()[: TEXT_MAX + 1]
        if not value:
            return None
        if _MOMENT.fullmatch(value):
            try:
                moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
            except ValueError:
                self.errors.append(f"{label}: {value!r} is no date and time")
                return None
            return int(moment.timestamp() * 1000)
        seconds = parse_duration(value)
        if isinstance(seconds, str):
            self.errors.append(
                f"{label}: give a UTC date and time (2026-11-30T09:00) or a span back from now "
                "(30m, 24h, 7d)"
            )
            return None
        return now_ms - seconds * 1000

    def day(self, name: str, label: str, default: int) -> int:
        """A UTC day, ``2026-11-30``, as days since 1970."""
        value = self._params.get(name, "").strip()
        if not value:
            return default
        try:
            if not _DAY.fullmatch(value):
                raise ValueError(value)
            return (date.fromisoformat(value) - date(1970, 1, 1)).days
        except ValueError:
            self.errors.append(f"{label}: give a day as 2026-11-30")
            return default

    def cursor(self, name: str) -> tuple[int, int] | None:
        """Where the previous page ended: ``decided_at,id``."""
        value = self._params.get(name, "").strip()
        if not value:
            return None
        found = _CURSOR.fullmatch(value)
        if found is None:
            self.errors.append("the page link is broken: start the search again")
            return None
        return int(found.group(1)), int(found.group(2))


def day_text(day: int) -> str:
    """Days since 1970 as ``2026-11-30``."""
    return datetime.fromtimestamp(day * DAY_MS / 1000, UTC).strftime("%Y-%m-%d")
