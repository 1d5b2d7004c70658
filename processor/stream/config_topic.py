"""The rules document on the compacted config topic: publishing it, and following it.

The topic holds the document in parts (``partner/<id>``, ``profile/<id>``, ``fields``), one JSON
value each, a tombstone deleting a part. ``rules apply`` writes the changed parts and a closing
``meta/version`` record in one transaction; a follower reads with read_committed, so it sees a
version's parts together with its version record or not at all, and it switches snapshots only at a
version record, only to a document that validates.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from processor.rules import (
    RuleError,
    RulesDocument,
    RulesInvalid,
    Snapshot,
    compile_rules,
    document_from_parts,
    document_to_parts,
)
from processor.settings import Settings
from processor.stream.reading import read_to_end

log = logging.getLogger(__name__)

VERSION_KEY = "meta/version"


def _encode(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class ConfigState:
    """The parts read so far, latest value per key, and the last version record."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        self.version: dict[str, Any] | None = None

    def apply(self, message: Message) -> bool:
        """Takes one record in; True when it was a version record (a switch point)."""
        key = (message.key() or b"").decode("utf-8", "replace")
        value = message.value()
        if key == VERSION_KEY:
            if value is not None:
                self.version = _version_record(value)
                return True
            return False
        if value is None:
            self.parts.pop(key, None)
        else:
            try:
                self.parts[key] = json.loads(value)
            except ValueError:
                # Kept as text, so validation refuses the version naming this part, with its key.
                self.parts[key] = value.decode("utf-8", "replace")
        return False


def _version_record(value: bytes) -> dict[str, Any] | None:
    """A version record's content; None when it is not a JSON object, as ``rules apply`` writes."""
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _consumer(settings: Settings, purpose: str) -> Consumer:
    return Consumer(
        settings.kafka_client_config()
        | {
            "group.id": f"{settings.group_id}-{purpose}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            # A new version should reach the processors within a fraction of a second.
            "fetch.wait.max.ms": 100,
        }
    )


@dataclass(frozen=True)
class Refusal:
    """A rules version that did not validate, and why."""

    version: str
    errors: RulesInvalid


class RulesFollower:
    """Keeps the rules snapshot in force, following the config topic.

    ``catch_up`` reads the topic to its end at start-up; ``poll`` then takes whatever arrived,
    without blocking. Both call ``on_switch`` with each new snapshot and ``on_refused`` for each
    version that does not validate (the snapshot in force stays).
    """

    def __init__(
        self,
        settings: Settings,
        on_switch: Callable[[Snapshot], None],
        on_refused: Callable[[Refusal], None],
    ) -> None:
        self._consumer = _consumer(settings, "rules")
        self._topic = settings.config_topic
        self._limits = settings.rules_limits()
        self._state = ConfigState()
        self._on_switch = on_switch
        self._on_refused = on_refused
        self.snapshot: Snapshot | None = None

    def catch_up(self, timeout: float = 60.0) -> Snapshot | None:
        """Reads the topic to its end offsets; returns the snapshot in force then (if any)."""
        read_to_end(self._consumer, self._topic, self._take, timeout=timeout)
        return self.snapshot

    def poll(self, timeout: float = 0.0) -> None:
        """Takes in every record that has arrived since; never waits longer than ``timeout``."""
        message = self._consumer.poll(timeout)
        while message is not None:
            if message.error() is None:
                self._take(message)
            message = self._consumer.poll(0)

    def close(self) -> None:
        self._consumer.close()

    def _take(self, message: Message) -> None:
        if not self._state.apply(message):
            return
        record = self._state.version
        version = str((record or {}).get("version", "?"))
        try:
            if record is None:
                # Written past `rules apply`: still a switch point, but not one to switch at.
                raise RulesInvalid([RuleError(VERSION_KEY, "not a JSON object")])
            document = document_from_parts(self._state.parts, self._limits)
        except RulesInvalid as invalid:
            log.error("rules version %s refused, the rules in force stay:\n%s", version, invalid)
            self._on_refused(Refusal(version, invalid))
            return
        self.snapshot = compile_rules(document, version)
        log.info("rules version %s in force", version)
        self._on_switch(self.snapshot)


@dataclass(frozen=True)
class ApplyResult:
    """What ``rules apply`` changed: the version written (or the one that stays)."""

    version: str
    changed: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not self.changed and not self.deleted


def read_config(settings: Settings, timeout: float = 60.0) -> ConfigState:
    """The config topic's current parts and version, read to its end."""
    consumer = _consumer(settings, "rules-apply")
    state = ConfigState()
    try:
        read_to_end(consumer, settings.config_topic, state.apply, timeout=timeout)
    finally:
        consumer.close()
    return state


def publish_rules(
    settings: Settings, document: RulesDocument, timeout: float = 60.0
) -> ApplyResult:
    """Writes the parts that differ from the topic, tombstones for parts gone, and a new version
    record, in one transaction. Nothing is written when nothing changed."""
    current = read_config(settings, timeout)
    wanted = document_to_parts(document)
    changed = tuple(sorted(k for k, v in wanted.items() if current.parts.get(k) != v))
    deleted = tuple(sorted(set(current.parts) - set(wanted)))
    previous = (current.version or {}).get("version", "0")
    if not changed and not deleted and current.version is not None:
        return ApplyResult(str(previous), (), ())
    version = str(int(previous) + 1) if str(previous).isdigit() else "1"
    digest = hashlib.sha256(_encode(wanted)).hexdigest()
    producer = Producer(
        settings.transactional_producer_config(f"{settings.group_id}-rules-apply")
        | {"linger.ms": 0}
    )
    producer.init_transactions(timeout)
    producer.begin_transaction()
    for key in changed:
        producer.produce(settings.config_topic, key=key.encode(), value=_encode(wanted[key]))
    for key in deleted:
        producer.produce(settings.config_topic, key=key.encode(), value=None)
    record = {
        "version": version,
        "digest": digest,
        "applied_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "parts": len(wanted),
    }
    producer.produce(settings.config_topic, key=VERSION_KEY.encode(), value=_encode(record))
    producer.commit_transaction(timeout)
    producer.close()
    return ApplyResult(version, changed, deleted)
