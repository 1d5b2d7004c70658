"""Every rules version the history topic holds: what ``rules history``, ``get``, ``diff`` and
``rollback`` read.

The history topic is kept, not compacted, and may be shared by several config topics (a header
names each record's), so it is read whole, from the beginning: each record of this config topic
whose key is a version number and whose value is what ``rules apply`` writes is a version; anything
else (another config topic's record, junk written by hand) is skipped, never fatal. A version's
parts are handed to the caller as they are read and not kept, so that reading a long history holds
one document at a time, not all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Message

from processor.control.history import (
    CONFIG_TOPIC_HEADER,
    HISTORY_MAX_BYTES,
    HOST_HEADER,
    USER_HEADER,
    parts_in,
    topic_exists,
)
from processor.control.records import VersionRecord, shown_key, version_number
from processor.errors import InvalidInput, ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.kafka.records import Headers
from processor.rules import RulesInvalid, RulesLimits, document_from_parts, document_to_parts
from processor.rules.diff import diff_parts, summary
from processor.settings import Settings

Parts = dict[str, Any]


@dataclass(frozen=True)
class Version:
    """One applied rules version as the history records it, without its parts."""

    number: int
    applied_at: datetime
    digest: str
    parts: int
    user: str | None
    """Who applied it; None for versions written before the history named them."""
    host: str | None

    @property
    def applied_by(self) -> str:
        """``user@host``, as far as the history knows them."""
        return f"{self.user or '?'}@{self.host or '?'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": str(self.number),
            "applied_at": self.applied_at.isoformat(timespec="milliseconds"),
            "digest": self.digest,
            "parts": self.parts,
            "user": self.user,
            "host": self.host,
        }


class UnknownVersion(InvalidInput):
    """A version asked for by number that the history does not hold."""


OnParts = Callable[[Version, Parts], None]


def read_versions(
    settings: Settings, on_parts: OnParts | None = None, timeout: float = 60.0
) -> list[Version]:
    """Every version of ``settings``' config topic in the history, in the order applied (oldest
    first); ``on_parts`` gets each with its parts as it is read. No history topic: no versions."""
    ours = (CONFIG_TOPIC_HEADER, settings.topics.config_topic.encode())
    versions: list[Version] = []

    def take(message: Message) -> None:
        given = message.headers() or []
        headers = list(given.items()) if isinstance(given, dict) else given
        value = message.value()
        number = version_number((message.key() or b"").decode("utf-8", "replace"))
        if ours not in headers or number is None or value is None:
            return
        if len(value) > HISTORY_MAX_BYTES:
            return
        parts = parts_in(value)
        if parts is None:
            return
        version = Version(
            number,
            datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC),
            hashlib.sha256(value).hexdigest(),
            len(parts),
            _header(headers, USER_HEADER),
            _header(headers, HOST_HEADER),
        )
        versions.append(version)
        if on_parts is not None:
            on_parts(version, parts)

    topic = settings.topics.config_history_topic
    consumer = reading_consumer(settings.kafka, "rules-versions")
    try:
        if topic_exists(consumer, topic, timeout):
            read_to_end(consumer, topic, take, timeout=timeout)
    except KafkaException as error:
        raise ServiceUnavailable(f"cannot read {topic}: {error}") from None
    finally:
        consumer.close()
    return versions


FIRST = "first version"


class Changes:
    """What each version changed against the one read before it, in words, for ``rules history``
    and the console's history page: give ``take`` to :func:`read_versions`. Holds one document at
    a time."""

    def __init__(self, limits: RulesLimits) -> None:
        self._limits = limits
        self._previous: Parts | None = None
        self.by_version: list[str] = []

    def take(self, version: Version, parts: Parts) -> None:
        try:
            current = document_to_parts(document_from_parts(parts, self._limits))
        except RulesInvalid as invalid:
            # A version written by another tool, or under other limits: shown, not compared.
            count = len(invalid.errors)
            self.by_version.append(f"does not validate ({count} error{'' if count == 1 else 's'})")
            return
        previous, self._previous = self._previous, current
        self.by_version.append(
            FIRST if previous is None else summary(diff_parts(previous, current))
        )


def is_in_force(record: VersionRecord, version: Version) -> bool:
    """Whether the version record in force is this version of the history."""
    return record.number == version.number and record.digest == version.digest


def find_version(settings: Settings, number: int, timeout: float = 60.0) -> tuple[Version, Parts]:
    """Version ``number`` with its parts; raises :class:`UnknownVersion` when the history holds
    no such version, naming the versions it does hold."""
    found: list[tuple[Version, Parts]] = []

    def keep(version: Version, parts: Parts) -> None:
        if version.number == number:
            found[:] = [(version, parts)]

    versions = read_versions(settings, keep, timeout)
    if not found:
        raise UnknownVersion(
            f"no version {number} in {settings.topics.config_history_topic} for "
            f"{settings.topics.config_topic}: {_held(versions)}"
        )
    return found[0]


def _held(versions: list[Version]) -> str:
    if not versions:
        return "it holds none (no rules apply yet)"
    numbers = sorted({version.number for version in versions})
    if len(numbers) == 1:
        return f"it holds version {numbers[0]} only"
    return f"it holds versions {numbers[0]} to {numbers[-1]}"


def _header(headers: Headers, name: str) -> str | None:
    """A header's value as text fit to print (printable ASCII, bounded), or None without one."""
    for key, value in headers:
        if key == name and value:
            return shown_key(value.encode() if isinstance(value, str) else value)
    return None
