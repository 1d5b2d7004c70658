"""The config history topic: every applied rules version whole, where a lost version is found again.

``rules apply`` writes, in the same transaction as a version's parts and version record, one record
to the history topic: key the version number, value the canonical encoding of all its parts by key,
so that the sha256 of the value is the version record's digest, and a header naming the config
topic. The compacted config topic keeps only the latest value of each part: a part written there
later without a version (by hand, by another tool), then compaction, loses a part of the version in
force for good. A follower whose
parts no longer match a version record takes the version from here instead, checked by its digest.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Partition

from processor.control.records import (
    VERSION_KEY,
    VersionRecord,
    parse_json,
    version_number,
)
from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import partitions_of, read_one, read_partitions
from processor.settings import Settings

log = logging.getLogger(__name__)

CONFIG_TOPIC_HEADER = "lead-router.config-topic"
"""The header naming the config topic a history record belongs to: deployments with config topics
of their own may share one history topic."""

USER_HEADER = "lead-router.applied-by"
"""The header naming who applied a version: the signed-in user of a console, or the user that ran
``rules apply``."""

HOST_HEADER = "lead-router.applied-on"
"""The header naming the host ``rules apply`` ran on."""

_MISSING = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)

REFRESH_S = 1.0
"""How often at most the index of the history grows by what was written since."""

HISTORY_MAX_BYTES = 64 * 1024 * 1024
"""The largest history record read: a whole rules document, as ``rules apply`` may write it."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """Where a history record is, and what it says of itself, without its (large) value."""

    version: bytes
    digest: str
    partition: int
    offset: int
    timestamp_ms: int


class History:
    """Finds a version's parts in the history topic: by its number and digest, or the newest.

    Any config record can send a follower here (a version record whose parts do not match), and
    a config topic can hold any number of them, so the topic is not read from its beginning for
    each: an index of the records read so far (version, digest, place; not the values) grows by
    the records written since, at most once per ``REFRESH_S`` (each growth costs round trips to
    the broker), and only the record found is read again whole. The one version this can miss is
    one applied less than ``REFRESH_S`` after the index last grew whose parts were also
    overwritten before a follower read them: it is refused as a mismatch, the version before it
    stays in force, and the next ``rules apply`` puts it right.
    """

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._topic = settings.topics.config_history_topic
        self._ours = (CONFIG_TOPIC_HEADER, settings.topics.config_topic.encode())
        self._consumer: Consumer | None = None
        self._entries: list[_Entry] = []
        self._caught_up_at: float | None = None
        self._next: dict[int, int] = {}
        """Per partition (as the topic had them at the first look-up), the offset the index has
        read up to."""

    def close(self) -> None:
        """Closes the reader; a later look-up opens another."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def parts_of(self, record: VersionRecord) -> dict[str, Any] | None:
        """The parts of ``record``'s version, or None when the history holds no record of it
        whose digest and part count match (or cannot be read)."""
        wanted = record.version.encode()
        found = self._last(lambda entry: entry.version == wanted and entry.digest == record.digest)
        parts = parts_in(found[1]) if found else None
        if parts is None or len(parts) != record.parts:
            return None
        log.warning(
            "rules version %s: its parts on %s were overwritten or deleted since; taken from %s, "
            "where they match its digest",
            record.version,
            self._settings.topics.config_topic,
            self._topic,
        )
        return parts

    def latest(self) -> tuple[VersionRecord, dict[str, Any]] | None:
        """The version ``rules apply`` wrote last, with its parts; None when there is none."""
        found = self._last(lambda entry: True)
        if found is None:
            return None
        entry, value = found
        parts = parts_in(value)
        version = entry.version.decode("utf-8", "replace")
        if parts is None or version_number(version) is None:
            return None
        applied_at = datetime.fromtimestamp(entry.timestamp_ms / 1000, UTC)
        record = VersionRecord(
            version, entry.digest, len(parts), applied_at.isoformat(timespec="milliseconds")
        )
        return record, parts

    def highest(self) -> int:
        """The highest version number the history holds for this config topic (0: none), read to
        its end now: what the next version's number must exceed, whatever the config topic has
        kept (compaction leaves one version record, and that one may have been written by hand)."""
        try:
            consumer = self._reader()
            if consumer is None:
                return 0
            self._catch_up(consumer)
            self._caught_up_at = time.monotonic()
        except KafkaException as error:
            raise ServiceUnavailable(f"cannot read {self._topic}: {error}") from error
        names = (entry.version.decode("utf-8", "replace") for entry in self._entries)
        return max((n for n in map(version_number, names) if n is not None), default=0)

    def _last(self, match: Callable[[_Entry], bool]) -> tuple[_Entry, bytes] | None:
        """The last history record that ``match`` takes, with its value, if any."""
        try:
            consumer = self._reader()
            if consumer is None:
                return None
            now = time.monotonic()
            if self._caught_up_at is None or now - self._caught_up_at >= REFRESH_S:
                self._catch_up(consumer)
                self._caught_up_at = now
            for entry in reversed(self._entries):
                if match(entry):
                    where = Partition(self._topic, entry.partition, entry.offset)
                    message = read_one(consumer, where, self._timeout)
                    consumer.unassign()
                    value = message.value() if message is not None else None
                    if value is None:
                        log.error(
                            "history record %s[%s]@%s is gone",
                            self._topic,
                            entry.partition,
                            entry.offset,
                        )
                        return None
                    return entry, value
        except (ServiceUnavailable, KafkaException) as error:
            log.error("cannot read %s: %s", self._topic, error)
        return None

    def _reader(self) -> Consumer | None:
        """The open reader, or a new one; None when there is no history topic."""
        if self._consumer is None:
            consumer = reading_consumer(self._settings.kafka, "rules-history")
            if not topic_exists(consumer, self._topic, self._timeout):
                consumer.close()
                log.error("no history topic %s to find a rules version in", self._topic)
                return None
            self._consumer = consumer
        return self._consumer

    def _catch_up(self, consumer: Consumer) -> None:
        """Adds the records written since the last look-up to the index."""
        if not self._next:  # its partitions, once: a metadata request costs ~100 ms each time
            deadline = time.monotonic() + self._timeout
            for partition in partitions_of(consumer, self._topic, deadline):
                self._next[partition.partition] = 0

        def take(message: Message) -> None:
            partition, offset = message.partition() or 0, message.offset() or 0
            self._next[partition] = offset + 1
            key, value = message.key() or b"", message.value()
            if value is None or len(value) > HISTORY_MAX_BYTES:
                return
            if self._ours in (message.headers() or []):
                digest = hashlib.sha256(value).hexdigest()
                self._entries.append(_Entry(key, digest, partition, offset, message.timestamp()[1]))

        try:
            read_partitions(consumer, self._topic, dict(self._next), take, timeout=self._timeout)
        finally:
            # An assigned consumer keeps a fetch waiting at the broker, and the next look-up's
            # metadata and offset requests would queue behind it (fetch.wait.max.ms each).
            consumer.unassign()


def topic_exists(consumer: Consumer, topic: str, timeout: float) -> bool:
    """Whether the broker has ``topic``: a history topic is made by the first ``rules apply``."""
    found = consumer.list_topics(topic, timeout=timeout).topics[topic]
    return found.error is None or found.error.code() not in _MISSING


def parts_in(value: bytes) -> dict[str, Any] | None:
    """The parts a history value holds, when it is what ``rules apply`` writes; None for
    anything else (not JSON, too large or deep, not an object of objects)."""
    content = parse_json(value, HISTORY_MAX_BYTES)
    if (
        isinstance(content, dict)
        and VERSION_KEY not in content
        and all(isinstance(part, dict) for part in content.values())
    ):
        return content
    return None
