"""A consumed record as tests build it: what the code reads through ``InputRecord``."""

from __future__ import annotations

from dataclasses import dataclass, field

from processor.kafka.records import Headers


@dataclass(frozen=True)
class Record:
    """A consumed record (an ``InputRecord``) with the place, key, value and headers given."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: Headers = field(default_factory=list)

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
        return (0, 0)
