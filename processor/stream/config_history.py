"""The config history topic: every applied rules version whole, where a lost version is found again.

``rules apply`` writes, in the same transaction as a version's parts and version record, one record
to the history topic: key the version number, value the canonical encoding of all its parts by key,
so that the sha256 of the value is the version record's digest. The compacted config topic keeps
only the latest value of each part: a part written there later without a version (by hand, by
another tool), then compaction, loses a part of the version in force for good. A follower whose
parts no longer match a version record takes the version from here instead, checked by its digest.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from confluent_kafka import KafkaException, Message

from processor.errors import ServiceUnavailable
from processor.settings import Settings
from processor.stream.config_records import VERSION_KEY, VersionRecord, parse_json
from processor.stream.reading import read_to_end, reading_consumer

log = logging.getLogger(__name__)

HISTORY_MAX_BYTES = 64 * 1024 * 1024
"""The largest history record read: a whole rules document, as ``rules apply`` may write it."""


class History:
    """Finds a version's parts in the history topic, by its number and digest."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        self._settings = settings
        self._timeout = timeout

    def parts_of(self, record: VersionRecord) -> dict[str, Any] | None:
        """The parts of ``record``'s version, or None when the history holds no record of it
        whose digest and part count match (or cannot be read)."""
        wanted = record.version.encode()
        found: list[dict[str, Any]] = []

        def take(message: Message) -> None:
            value = message.value()
            if message.key() != wanted or value is None or len(value) > HISTORY_MAX_BYTES:
                return
            if hashlib.sha256(value).hexdigest() != record.digest:
                return
            content = parse_json(value, HISTORY_MAX_BYTES)
            if (
                isinstance(content, dict)
                and len(content) == record.parts
                and VERSION_KEY not in content
                and all(isinstance(part, dict) for part in content.values())
            ):
                found[:] = [content]

        consumer = reading_consumer(self._settings, "rules-history")
        try:
            read_to_end(consumer, self._settings.config_history_topic, take, timeout=self._timeout)
        except (ServiceUnavailable, KafkaException) as error:
            log.error("cannot read %s: %s", self._settings.config_history_topic, error)
            return None
        finally:
            consumer.close()
        if found:
            log.warning(
                "rules version %s: its parts on %s were overwritten or deleted since; "
                "taken from %s, where they match its digest",
                record.version,
                self._settings.config_topic,
                self._settings.config_history_topic,
            )
            return found[0]
        return None
