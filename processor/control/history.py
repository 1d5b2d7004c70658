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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from processor.control.records import (
    VERSION_KEY,
    VersionRecord,
    parse_json,
    version_number,
)
from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.settings import Settings

log = logging.getLogger(__name__)

CONFIG_TOPIC_HEADER = "lead-router.config-topic"
"""The header naming the config topic a history record belongs to: deployments with config topics
of their own may share one history topic."""

_MISSING = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)

HISTORY_MAX_BYTES = 64 * 1024 * 1024
"""The largest history record read: a whole rules document, as ``rules apply`` may write it."""


class History:
    """Finds a version's parts in the history topic: by its number and digest, or the newest."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        self._settings = settings
        self._timeout = timeout

    def parts_of(self, record: VersionRecord) -> dict[str, Any] | None:
        """The parts of ``record``'s version, or None when the history holds no record of it
        whose digest and part count match (or cannot be read)."""
        wanted = record.version.encode()
        found = self._last(
            lambda key, value: key == wanted and hashlib.sha256(value).hexdigest() == record.digest
        )
        parts = _parts(found[1]) if found else None
        if parts is None or len(parts) != record.parts:
            return None
        log.warning(
            "rules version %s: its parts on %s were overwritten or deleted since; taken from %s, "
            "where they match its digest",
            record.version,
            self._settings.topics.config_topic,
            self._settings.topics.config_history_topic,
        )
        return parts

    def latest(self) -> tuple[VersionRecord, dict[str, Any]] | None:
        """The version ``rules apply`` wrote last, with its parts; None when there is none."""
        found = self._last(lambda key, value: True)
        if found is None:
            return None
        key, value, timestamp_ms = found
        parts = _parts(value)
        version = key.decode("utf-8", "replace")
        if parts is None or version_number(version) is None:
            return None
        applied_at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        digest = hashlib.sha256(value).hexdigest()
        record = VersionRecord(
            version, digest, len(parts), applied_at.isoformat(timespec="milliseconds")
        )
        return record, parts

    def _last(self, match: Callable[[bytes, bytes], bool]) -> tuple[bytes, bytes, int] | None:
        """The last history record (key, value, timestamp) that ``match`` takes, if any."""
        found: list[tuple[bytes, bytes, int]] = []

        ours = (CONFIG_TOPIC_HEADER, self._settings.topics.config_topic.encode())

        def take(message: Message) -> None:
            key, value = message.key() or b"", message.value()
            if value is None or len(value) > HISTORY_MAX_BYTES:
                return
            if ours in (message.headers() or []) and match(key, value):
                found[:] = [(key, value, message.timestamp()[1])]

        topic = self._settings.topics.config_history_topic
        consumer = reading_consumer(self._settings.kafka, "rules-history")
        try:
            found_topic = consumer.list_topics(topic, timeout=self._timeout).topics[topic]
            if found_topic.error is not None and found_topic.error.code() in _MISSING:
                log.error("no history topic %s to find a rules version in", topic)
                return None
            read_to_end(consumer, topic, take, timeout=self._timeout)
        except (ServiceUnavailable, KafkaException) as error:
            log.error("cannot read %s: %s", self._settings.topics.config_history_topic, error)
            return None
        finally:
            consumer.close()
        return found[0] if found else None


def _parts(value: bytes) -> dict[str, Any] | None:
    """The parts a history value holds, when it is what ``rules apply`` writes."""
    content = parse_json(value, HISTORY_MAX_BYTES)
    if (
        isinstance(content, dict)
        and VERSION_KEY not in content
        and all(isinstance(part, dict) for part in content.values())
    ):
        return content
    return None
