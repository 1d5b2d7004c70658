"""Spans written for people, ``30m``, ``12h``, ``30d``: duplicate windows and memories.

A span is whole minutes, hours, days or weeks, at most ``MAX_DAYS`` days: duplicate memory is kept
that long, so a span bounds what the state stores hold. A delay before a delivery is retried
(:func:`parse_delay`) may also be whole seconds, at most ``MAX_DELAY_DAYS`` days.
"""

from __future__ import annotations

import re

UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_DAYS = 366

MAX_DELAY_DAYS = 7
"""The longest wait before a retry: a retry topic must keep its records at least that long."""

_SPAN = re.compile(r"([0-9]{1,6})([mhdw])")
_DELAY = re.compile(r"([0-9]{1,6})([smhd])")


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


def parse_delay(text: str) -> int | str:
    """``text`` (``30s``, ``5m``, ``2h``, ``1d``) in seconds, or why it is not a delay."""
    found = _DELAY.fullmatch(text.strip())
    if found is None:
        return f"bad delay {text!r}: write a whole number and a unit (s, m, h or d), e.g. '5m'"
    seconds = int(found.group(1)) * (1 if found.group(2) == "s" else UNITS[found.group(2)])
    if seconds <= 0:
        return f"bad delay {text!r}: a delay must be longer than nothing"
    if seconds > MAX_DELAY_DAYS * UNITS["d"]:
        return f"bad delay {text!r}: at most {MAX_DELAY_DAYS} days"
    return seconds
