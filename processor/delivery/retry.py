"""Retries through retry topics: what comes after a failed attempt, and when a waiting one is due.

An attempt sends a delivery to every destination once (with the quick in-process tries of
``DELIVERY_ATTEMPTS`` inside it). After a failed attempt, the partner's schedule
(``partner.policy.retries``) says how long the delivery waits before the next: the n-th retry
waits on the partner's n-th retry topic, ``<RETRY_TOPIC_PREFIX><partner>.<n>``, so that a broken
endpoint never holds up the deliveries behind it (Kafka's non-blocking retry topics). Every record
of one level waits the same delay, so a level's records fall due in offset order, and a worker
only looks at the head of each partition.

The headers of a waiting record say how many attempts were made and when the next is due. Anyone
who can write to a retry topic can write them: they are read bounded, and a missing or absurd
value falls back to what the level itself implies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from processor.kafka.records import Headers
from processor.rules.document import DeliveryPolicy, GiveUp, delay_s
from processor.rules.durations import MAX_DELAY_DAYS

ATTEMPTS_HEADER = "lead-router.attempts"
"""Attempts made so far (the record waits for the next)."""
DUE_AT_HEADER = "lead-router.due-at"
"""When the next attempt is due, in milliseconds since the epoch."""
ERROR_HEADER = "lead-router.error"
"""What the destinations answered at the last attempt (no lead data)."""
FIRST_SOURCE_HEADER = "lead-router.first-source"
"""``<topic>/<partition>/<offset>`` of the delivery record the retries started from."""

MAX_DELAY_MS = MAX_DELAY_DAYS * 86_400_000
"""No record waits longer than the longest delay a schedule may hold, whatever its headers say."""
RETENTION_MS = 2 * MAX_DELAY_MS
"""A retry topic keeps records twice the longest wait: a worker down for a week loses nothing."""
MAX_HEADER_BYTES = 1000
"""A header value longer than this is not read, and the error header is cut to it."""
MAX_ATTEMPTS = 1000
"""An attempts header above this is absurd (a schedule holds at most ten retries)."""

_NUMBER = re.compile(rb"[0-9]{1,16}")
_SOURCE = re.compile(r"[A-Za-z0-9._-]{1,249}/[0-9]{1,10}/[0-9]{1,19}")

Why = Literal["exhausted", "refused"]
Read = Headers | Mapping[str, str | bytes | None] | None
"""A consumed record's headers, as the client gives them."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Wait on retry topic ``level`` until ``due_at_ms``."""

    level: int
    due_at_ms: int


@dataclass(frozen=True, slots=True)
class Stop:
    """No retry: ``action`` is the policy's answer to ``why``."""

    action: GiveUp
    why: Why


def next_step(
    policy: DeliveryPolicy, status: str, attempts: int, now_ms: int
) -> Retry | Stop | None:
    """After attempt number ``attempts`` ended in ``status``: None when it was delivered, else a
    retry while the schedule has one left, else what the policy says to do."""
    if status == "delivered":
        return None
    if status == "rejected":
        return Stop(policy.on_refused, "refused")
    if attempts <= len(policy.retries):
        return Retry(attempts, now_ms + delay_s(policy.retries[attempts - 1]) * 1000)
    return Stop(policy.on_exhausted, "exhausted")


def level_delay_ms(policy: DeliveryPolicy, level: int) -> int:
    """What the schedule in force makes records of ``level`` wait; nothing for a level it no
    longer has (the schedule was shortened while they waited)."""
    if 1 <= level <= len(policy.retries):
        return delay_s(policy.retries[level - 1]) * 1000
    return 0


def retry_headers(attempts: int, due_at_ms: int, error: str, first_source: str) -> Headers:
    """The headers of a record written to wait for its next attempt."""
    return [
        (ATTEMPTS_HEADER, str(attempts).encode()),
        (DUE_AT_HEADER, str(due_at_ms).encode()),
        (ERROR_HEADER, _cut(error)),
        (FIRST_SOURCE_HEADER, first_source.encode()),
    ]


def attempts_made(headers: Read, level: int) -> int:
    """Attempts made before this record's: its header, or ``level`` when that is missing or absurd
    (a record waits on level n after its n-th attempt)."""
    found = _number(_header(headers, ATTEMPTS_HEADER))
    return found if found is not None and 1 <= found <= MAX_ATTEMPTS else level


def due_at(headers: Read, written_ms: int, delay_ms: int, now_ms: int) -> int:
    """When a waiting record is due: its header, or when it was written plus its level's delay
    when that is missing or beyond the longest delay from now; never later than that."""
    latest = now_ms + MAX_DELAY_MS
    found = _number(_header(headers, DUE_AT_HEADER))
    if found is None or found > latest:
        found = max(written_ms, 0) + delay_ms
    return min(found, latest)


def first_source(headers: Read, here: str) -> str:
    """Where the retries of a record started: its header when it is a place, else ``here``."""
    value = _header(headers, FIRST_SOURCE_HEADER)
    try:
        text = value.decode("ascii") if value is not None else ""
    except UnicodeDecodeError:
        return here
    return text if _SOURCE.fullmatch(text) else here


def _header(headers: Read, name: str) -> bytes | None:
    """The last value of header ``name`` when it is bytes of a sane size."""
    found: bytes | None = None
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in pairs:
        if key == name:
            encoded = value.encode() if isinstance(value, str) else value
            found = encoded if encoded is not None and len(encoded) <= MAX_HEADER_BYTES else None
    return found


def _number(value: bytes | None) -> int | None:
    return int(value) if value is not None and _NUMBER.fullmatch(value) else None


def _cut(text: str) -> bytes:
    """``text`` in UTF-8, at most ``MAX_HEADER_BYTES``, never cutting a character in two."""
    return text.encode()[:MAX_HEADER_BYTES].decode("utf-8", "ignore").encode()
