"""The config topic as read so far: its parts, the version in force, and what was refused.

The topic holds the rules document in parts (``partner/<id>``, ``profile/<id>``, ``fields``), one
JSON value each, a tombstone deleting a part, and closing ``meta/version`` records (number, digest,
part count). A reader with read_committed sees a version's parts together with its version record
or not at all.

The topic is a trust boundary: anyone who can write to it can write anything. A version comes in
force only at a version record, and only with a document whose parts match the record's digest and
part count (taken from the history topic when the config topic's parts no longer do) and that
validates. Every other record is refused (:mod:`processor.control.records`), counted, logged
without its content, and changes nothing. The processors, the delivery workers, ``rules apply``
and ``rules status`` all judge the topic here, so they agree on the version in force.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from confluent_kafka import Message

from processor import metrics
from processor.control.history import History
from processor.control.records import (
    REASONS,
    VERSION_KEY,
    Part,
    Refused,
    VersionRecord,
    digest_of,
    read_record,
)
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.rules import RulesDocument, RulesInvalid, RulesLimits, document_from_parts
from processor.rules.limits import DEFAULT_LIMITS
from processor.settings import Settings

log = logging.getLogger(__name__)

for _reason in REASONS:  # every reason is scraped from the start, at 0
    metrics.CONFIG_RECORDS_REFUSED.labels(_reason)

REFUSALS_KEPT = 1000
"""How many refused records a reader remembers (for ``rules status``); older ones are forgotten."""


class ConfigState:
    """The config topic as read so far: its parts, the version in force and what was refused.

    Each version record is judged on its own: its parts must match its digest and part count (or
    be found in the history, when ``history`` is given) and make a valid document. The judgement is
    the same for the processor, ``rules apply`` and ``rules status``.
    """

    def __init__(
        self,
        max_bytes: int,
        history: History | None = None,
        limits: RulesLimits = DEFAULT_LIMITS,
    ) -> None:
        self.parts: dict[str, dict[str, Any]] = {}
        self.in_force: VersionRecord | None = None
        self.document: RulesDocument | None = None
        self.highest = 0
        """The highest version number any version record named, refused or not."""
        self.refused: deque[Refused] = deque(maxlen=REFUSALS_KEPT)
        self._max_bytes = max_bytes
        self._history = history
        self._limits = limits
        # Twice a document's worth: an apply that renames every part writes the new ones before
        # the tombstones of the old.
        self._max_parts = 2 * (limits.max_partners + limits.max_profiles + 1)  # 1: `fields`
        self._max_part_bytes = 2 * limits.max_bytes
        self._sizes: dict[str, int] = {}
        """Each part's size as written, to bound what the parts hold together."""
        self._part_bytes = 0
        self._versions_seen = False

    @property
    def version(self) -> str | None:
        """The version in force, or None."""
        return self.in_force.version if self.in_force else None

    def next_version(self) -> int:
        """The number of the next version ``rules apply`` writes: above every number a version
        record named and every version the history holds, so that no number is used twice."""
        applied = self._history.highest() if self._history is not None else 0
        return max(self.highest, applied) + 1

    def close(self) -> None:
        """Closes the history's reader, if one was opened."""
        if self._history is not None:
            self._history.close()

    def apply(self, message: Message) -> VersionRecord | Refused | None:
        """Takes one record in: the version record that came in force with it, the refusal of it,
        or None when it changed nothing in force (a part)."""
        offset = message.offset()
        record = read_record(
            message.key(),
            message.value(),
            -1 if offset is None else offset,
            self._max_bytes,
            message.timestamp()[1],
        )
        if isinstance(record, Refused):
            self._versions_seen |= record.key == VERSION_KEY
            return self._refuse(record)
        if isinstance(record, Part):
            if record.content is None:
                self.parts.pop(record.key, None)
                self._part_bytes -= self._sizes.pop(record.key, 0)
                return None
            size = len(message.value() or b"")
            held = self._part_bytes - self._sizes.get(record.key, 0) + size
            if held > self._max_part_bytes or (
                record.key not in self.parts and len(self.parts) >= self._max_parts
            ):
                # Parts pile up before any version record judges them: a writer of parts alone
                # must not fill a processor's memory (a 1 MB part parses into some 20 MB).
                detail = f"{len(self.parts) + 1:,} parts of {held:,} bytes: more than two documents"
                where = -1 if offset is None else offset
                return self._refuse(Refused(record.key, where, "too-many-parts", detail))
            self.parts[record.key] = record.content
            self._sizes[record.key] = size
            self._part_bytes = held
            return None
        return self._judge(record)

    def settle(self) -> VersionRecord | None:
        """Once the topic is read to its end: when it holds version records but none is in force
        (the last one was refused, and compaction removed the good ones before it), the version
        ``rules apply`` wrote last, from the history, is the one that was in force. Returns it
        when it comes in force. A topic without any version record (new, or emptied) takes
        nothing from the history."""
        if self.in_force is not None or self._history is None or not self._versions_seen:
            return None
        latest = self._history.latest()
        if latest is None:
            return None
        record, parts = latest
        log.warning(
            "no version on the config topic comes in force: taking version %s, the last that "
            "rules apply wrote, from the history",
            record.version,
        )
        outcome = self._judge(record, parts)
        return outcome if isinstance(outcome, VersionRecord) else None

    def _judge(
        self, record: VersionRecord, parts: dict[str, Any] | None = None
    ) -> VersionRecord | Refused:
        self._versions_seen = True
        if record.number is not None:
            self.highest = max(self.highest, record.number)
        if parts is None:
            parts = self.parts
            if len(parts) != record.parts or digest_of(parts) != record.digest:
                parts = self._history.parts_of(record) if self._history else None
        if parts is None:
            detail = (
                f"its {record.parts} parts with digest {record.digest[:12]} are not on the topic "
                f"({len(self.parts)} parts, digest {digest_of(self.parts)[:12]}) nor in the history"
            )
            return self._refuse(
                Refused(VERSION_KEY, record.offset, "mismatch", detail, record.version)
            )
        try:
            document = document_from_parts(parts, self._limits)
        except RulesInvalid as invalid:
            detail = f"the document does not validate ({len(invalid.errors)} errors)"
            refused = Refused(
                VERSION_KEY, record.offset, "invalid", detail, record.version, tuple(invalid.errors)
            )
            return self._refuse(refused)
        self.in_force, self.document = record, document
        return record

    def _refuse(self, refused: Refused) -> Refused:
        metrics.CONFIG_RECORDS_REFUSED.labels(refused.reason).inc()
        self.refused.append(refused)
        log.error("config record refused, the rules in force stay: %s", refused)
        return refused


def config_state(settings: Settings) -> ConfigState:
    """An empty state for reading ``settings``' config topic, finding versions in its history."""
    return ConfigState(
        settings.topics.config_record_max_bytes, History(settings), settings.rules.rules_limits()
    )


def read_config(settings: Settings, timeout: float = 60.0) -> ConfigState:
    """The config topic's current parts and version in force, read to its end and judged."""
    consumer = reading_consumer(settings.kafka, "rules-apply")
    state = config_state(settings)
    try:
        read_to_end(consumer, settings.topics.config_topic, state.apply, timeout=timeout)
        state.settle()
    finally:
        consumer.close()
        state.close()
    return state
