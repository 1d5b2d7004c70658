"""Returns: a partner hands back a lead it was delivered, as a ``DeliveryReturn`` record.

Returns reach lead-router on the returns topic (``RETURNS_TOPIC``), keyed by delivery id, written
by partners' systems and by ``lead-router return``. Anyone who may write that topic may write
anything to it, so every record is checked here before the match stage hands it to the decide
stage, which credits the delivery at most once or refuses the return: a record that cannot be a
return is refused with the reason (:class:`InvalidReturn`); text that is merely long is cut, since
a partner's long explanation is no reason to refuse its return.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_REASON_CHARS = 500
"""The longest reason kept: enough for a sentence or two, bounded because it is copied into the
receipt that credits or refuses the return."""
MAX_BY_CHARS = 200
"""The longest ``by`` kept: a user name at a host, or a partner system's name."""
EARLIEST_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""No lead was delivered by lead-router before this: an earlier ``at`` is a wrong clock or unit."""
CLOCK_SKEW = timedelta(days=1)
"""How far in the future a return's ``at`` may lie: the writer's clock may run ahead of ours."""
MAX_KEY_BYTES = 256
"""The longest record key taken. Returns are keyed by delivery id (36 bytes); the key travels on
to the decide stage, and a key as large as the broker takes would make that record larger than the
processor writes, failing its whole transaction again on every restart."""

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class InvalidReturn(ValueError):
    """A record that cannot be a return: ``field`` names what is wrong, the message says how
    (never quoting the value, which is the writer's and could be anything)."""

    reason = "invalid-return"
    """The dead-letter reason of such a record."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def delivery_id_of(text: str) -> str:
    """``text`` as a delivery id: a UUID in its canonical 36-character form, in lower case (as
    lead-router writes them), whatever the case it was written in."""
    canonical = text.strip().lower()
    if not _UUID.fullmatch(canonical):
        raise InvalidReturn("delivery_id", "not a UUID (8-4-4-4-12 hexadecimal digits)")
    return canonical


def reason_of(text: str) -> str:
    """The reason kept: trimmed, cut to ``MAX_REASON_CHARS``; an empty one is refused, since a
    return must say why."""
    reason = text.strip()
    if not reason:
        raise InvalidReturn("reason", "empty: a return must say why")
    return reason[:MAX_REASON_CHARS]


def by_of(text: str | None) -> str | None:
    """Who returned the lead, trimmed and cut to ``MAX_BY_CHARS``; None when not said."""
    by = (text or "").strip()[:MAX_BY_CHARS]
    return by or None


def at_of(at: datetime, now: datetime) -> datetime:
    """``at`` when it can be the time of a return judged at ``now``: not before ``EARLIEST_AT``,
    nor more than ``CLOCK_SKEW`` after ``now``."""
    if at < EARLIEST_AT:
        raise InvalidReturn("at", f"before {EARLIEST_AT:%Y-%m-%d}: a wrong clock or unit")
    if at > now + CLOCK_SKEW:
        raise InvalidReturn("at", "more than a day in the future")
    return at


def key_of(key: bytes | None) -> bytes | None:
    """The record's key, when it is short enough to hand on."""
    if key is not None and len(key) > MAX_KEY_BYTES:
        raise InvalidReturn(
            "key", f"longer than {MAX_KEY_BYTES} bytes: key a return by its delivery id"
        )
    return key


def checked_return(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A decoded ``DeliveryReturn`` as it is handed on: its delivery id canonical, its texts
    trimmed and cut; raises :class:`InvalidReturn` for one that cannot be a return."""
    return {
        "delivery_id": delivery_id_of(record["delivery_id"]),
        "reason": reason_of(record["reason"]),
        "at": at_of(record["at"], now),
        "by": by_of(record["by"]),
    }
