"""The records that cross the Kafka layer: what is consumed, what is produced, dead-letter copies.

The consumer hands over confluent-kafka ``Message`` objects; code that only reads them takes an
:class:`InputRecord` (a protocol a ``Message`` satisfies), so that it can be fed plain objects in
tests and benchmarks. What is to be produced is an :class:`OutputRecord`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

Headers = list[tuple[str, str | bytes | None]]

ERROR_HEADER = "lead-router.error.reason"
MESSAGE_HEADER = "lead-router.error.message"
EXCEPTION_HEADER = "lead-router.error.exception"
SOURCE_HEADERS = ("lead-router.source.topic", "lead-router.source.partition")
OFFSET_HEADER = "lead-router.source.offset"
REDRIVEN_HEADER = "lead-router.redriven-from"
"""On a lead ``lead-router redrive`` published again: ``<topic>/<partition>/<offset>`` of the
dead-letter or unroutable record it came from."""


def redriven(headers: Headers | dict[str, str | bytes | None] | None) -> bool:
    """Whether a record's headers (a consumed record's list, or a mapping) mark it as a lead
    ``lead-router redrive`` published again: the decide stage and replay route such a lead past
    its earlier unroutable decision."""
    if isinstance(headers, dict):
        return REDRIVEN_HEADER in headers
    return any(header[0] == REDRIVEN_HEADER for header in headers or ())


DEAD_LETTER_HEADROOM = 100_000
"""Bytes beyond ``max_record_bytes`` that a producer writing dead letters takes: an input the
broker accepted (its default limit is 1,048,588 bytes) still fits in a dead-letter topic with its
error headers."""


class InputRecord(Protocol):
    """What is read of a consumed record (a confluent-kafka ``Message`` is one)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Headers | dict[str, str | bytes | None] | None: ...
    def timestamp(self) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """A consumed record held in memory, read as the stages read one from the consumer: what
    a stage is handed when the record did not come from this process's consumer (the decide
    stage's copy of the lead a hand-over record carries, another framework's record)."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: Headers
    _timestamp: tuple[int, int]

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    timestamp: int = 0
    """Milliseconds since the epoch, as the record's create time; 0 for the time it is sent."""
    partition: int | None = None
    """The partition to write to; None for the producer's partitioner (by key)."""

    def size(self) -> int:
        """What the record weighs against the producer's ``message.max.bytes``, near enough."""
        headers = sum(len(name) + len(value or b"") for name, value in self.headers or ())
        return len(self.key or b"") + len(self.value or b"") + headers


def where(record: InputRecord) -> str:
    """``topic[partition]@offset``: how logs name a record, without its content."""
    return f"{record.topic()}[{record.partition()}]@{record.offset()}"


def dead_letter(record: InputRecord, topic: str, reason: str, text: str) -> OutputRecord:
    """The input record whole, for a dead-letter topic: key, bytes, headers and timestamp (as its
    create time), so that a redrive publishes the very record again; the error and the input's
    place follow the input's own headers, as in Kafka Streams' dead-letter queues (KIP-1034).

    The exception's class is named when one is being handled (called from an ``except``)."""
    kept = record.headers() or []
    own = list(kept.items()) if isinstance(kept, dict) else kept
    headers: Headers = [*own, *_error_headers(record, reason, text)]
    _, timestamp = record.timestamp()
    return OutputRecord(topic, record.key(), record.value(), headers, max(timestamp, 0))


def _error_headers(record: InputRecord, reason: str, text: str) -> Headers:
    """Why a record was dead-lettered and where it came from, as dead-letter headers."""
    headers: Headers = [
        (ERROR_HEADER, reason.encode()),
        (MESSAGE_HEADER, text.encode("utf-8", "replace")[:1000]),
    ]
    handled = sys.exc_info()[1]
    if handled is not None:
        kind = type(handled)
        headers.append((EXCEPTION_HEADER, f"{kind.__module__}.{kind.__qualname__}".encode()))
    headers += [
        (SOURCE_HEADERS[0], (record.topic() or "").encode()),
        (SOURCE_HEADERS[1], str(record.partition()).encode()),
        (OFFSET_HEADER, str(record.offset()).encode()),
    ]
    return headers
