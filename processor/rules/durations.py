"""Spans written for people, ``30m``, ``12h``, ``30d``: duplicate windows and memories.

A span is whole minutes, hours, days or weeks, at most ``MAX_DAYS`` days: duplicate memory is kept
that long, so a span bounds what the state stores hold.
"""

from __future__ import annotations

import re

UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_DAYS = 366

_SPAN = re.compile(r"([0-9]{1,6})([mhdw])")


def parse_duration(text: str) -> int | str:
    """``text`` in seconds, or why it is not a span."""
    found = _SPAN.fullmatch(text.strip())
    if found is None:
        return f"bad duration {text!r}: write a whole number and a unit (m, h, d or w), e.g. '30d'"
    seconds = int(found.group(1)) * UNITS[found.group(2)]
    if seconds <= 0:
        return f"bad duration {text!r}: a span must be longer than nothing"
    if seconds > MAX_DAYS * UNITS["d"]:
        return f"bad duration {text!r}: at most {MAX_DAYS} days"
    return seconds
