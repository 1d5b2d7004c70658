"""A consumed record as tests build it: what the code reads through ``InputRecord``."""

from __future__ import annotations

from processor.kafka.records import ConsumedRecord, Headers


def Record(  # reads as the record type it makes
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None = None,
) -> ConsumedRecord:
    """A consumed record with the place, key, value and headers given, and no timestamp."""
    return ConsumedRecord(topic, partition, offset, key, value, headers or [], (0, 0))
