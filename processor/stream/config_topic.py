"""The rules document on the compacted config topic: publishing it, and following it.

The topic holds the document in parts (``partner/<id>``, ``profile/<id>``, ``fields``), one JSON
value each, a tombstone deleting a part. ``rules apply`` writes the changed parts, the whole version
to the history topic, and a closing ``meta/version`` record (number, digest, part count) in one
transaction; a follower reads with read_committed, so it sees a version's parts together with its
version record or not at all.

The topic is a trust boundary: anyone who can write to it can write anything. A follower switches
only at a version record, and only to a document whose parts match the record's digest and part
count (taken from the history topic when the config topic's parts no longer do) and that validates.
Every other record is refused (:mod:`processor.stream.config_records`), counted, logged without its
content, and changes nothing.
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from processor import metrics
from processor.errors import InvalidInput, UserError
from processor.kafka import clients
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.rules import (
    RuleError,
    RulesDocument,
    RulesInvalid,
    RulesLimits,
    Snapshot,
    compile_rules,
    document_from_parts,
    document_to_parts,
)
from processor.rules.limits import DEFAULT_LIMITS
from processor.settings import Settings
from processor.stream.config_history import CONFIG_TOPIC_HEADER, HISTORY_MAX_BYTES, History
from processor.stream.config_records import (
    REASONS,
    VERSION_KEY,
    Part,
    Refused,
    VersionRecord,
    canonical,
    digest_of,
    read_record,
)

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


@dataclass(frozen=True)
class Refusal:
    """A rules version that was refused (its parts do not match it, or do not validate), and why."""

    version: str
    errors: RulesInvalid


class RulesFollower:
    """Keeps the rules snapshot in force, following the config topic.

    ``catch_up`` reads the topic to its end at start-up; ``poll`` then takes whatever arrived,
    without blocking. Both call ``on_switch`` with each new snapshot and ``on_refused`` for each
    version that is refused (the snapshot in force stays). No record on the topic makes either
    raise.
    """

    def __init__(
        self,
        settings: Settings,
        on_switch: Callable[[Snapshot], None],
        on_refused: Callable[[Refusal], None],
    ) -> None:
        self._consumer = reading_consumer(settings.kafka, "rules")
        self._topic = settings.topics.config_topic
        self._state = config_state(settings)
        self._on_switch = on_switch
        self._on_refused = on_refused
        self.snapshot: Snapshot | None = None

    def catch_up(self, timeout: float = 60.0) -> Snapshot | None:
        """Reads the topic to its end offsets; returns the snapshot in force then (if any)."""
        read_to_end(self._consumer, self._topic, self._take, timeout=timeout)
        settled = self._state.settle()
        if settled is not None:
            self._switch(settled)
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
        outcome = self._state.apply(message)
        if isinstance(outcome, Refused):
            if outcome.key == VERSION_KEY:
                errors = list(outcome.errors) or [RuleError(VERSION_KEY, outcome.detail)]
                if outcome.errors:
                    log.error("rules version %s does not validate:\n%s", outcome.version, errors)
                self._on_refused(Refusal(outcome.version or "?", RulesInvalid(errors)))
            return
        if outcome is not None:
            self._switch(outcome)

    def _switch(self, record: VersionRecord) -> None:
        document = self._state.document
        assert document is not None  # set with the version in force
        self.snapshot = compile_rules(document, record.version)
        log.info("rules version %s in force", record.version)
        self._on_switch(self.snapshot)


def read_config(settings: Settings, timeout: float = 60.0) -> ConfigState:
    """The config topic's current parts and version in force, read to its end and judged."""
    consumer = reading_consumer(settings.kafka, "rules-apply")
    state = config_state(settings)
    try:
        read_to_end(consumer, settings.topics.config_topic, state.apply, timeout=timeout)
    finally:
        consumer.close()
    state.settle()
    return state


@dataclass(frozen=True)
class ApplyResult:
    """What ``rules apply`` changed: the version written (or the one that stays)."""

    version: str
    changed: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not self.changed and not self.deleted


class VersionConflict(UserError):
    """The version in force is not the one ``rules apply --expect-version`` expected, or another
    apply to the same config topic took over meanwhile: nothing was written."""

    exit_code = 7


class ApplyFailed(UserError):
    """``rules apply`` could not write its transaction; it was aborted and nothing was written."""

    exit_code = 4


def apply_transactional_id(settings: Settings) -> str:
    """One transactional id for every apply to one config topic: a second apply that starts
    fences the first, whose commit then fails, so two applies never interleave their parts."""
    return f"lead-router-rules-apply.{settings.topics.config_topic}"


def publish_rules(
    settings: Settings,
    document: RulesDocument,
    timeout: float = 60.0,
    *,
    expect_version: str | None = None,
) -> ApplyResult:
    """Writes the parts that differ from the topic, tombstones for parts gone, the version to the
    history and a new version record, in one transaction. Nothing is written when nothing changed.

    Compare-and-set: the topic is read after the producer fenced any earlier apply, so what it
    holds then is what this apply changes; with ``expect_version`` ("0": none yet), a version in
    force other than that one raises :class:`VersionConflict` before anything is written.
    """
    wanted = document_to_parts(document)
    digest = digest_of(wanted)
    _check_sizes(wanted, settings.topics.config_record_max_bytes)
    # The broker has the last word on sizes (compressed): its message.max.bytes, or the topic's
    # max.message.bytes. The history takes a whole document in one record.
    producer = clients.transactional_producer(
        settings.kafka,
        apply_transactional_id(settings),
        {"linger.ms": 0, "compression.type": "zstd", "message.max.bytes": HISTORY_MAX_BYTES},
    )
    sent = _Sent()
    step = "fencing earlier applies (init_transactions)"
    began = False
    try:
        producer.init_transactions(timeout)
        step = f"reading {settings.topics.config_topic}"
        current = read_config(settings, timeout)
        in_force = current.version
        if expect_version is not None and (in_force or "0") != expect_version:
            raise VersionConflict(
                f"version {in_force or 'none'} is in force on {settings.topics.config_topic}, not "
                f"{expect_version} as expected: nothing was written"
            )
        changed = tuple(sorted(k for k, v in wanted.items() if current.parts.get(k) != v))
        deleted = tuple(sorted(set(current.parts) - set(wanted)))
        unchanged = not changed and not deleted
        if unchanged and current.in_force is not None and current.in_force.digest == digest:
            return ApplyResult(current.in_force.version, (), ())
        version = str(current.highest + 1)
        record = {
            "version": version,
            "digest": digest,
            "applied_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "parts": len(wanted),
        }
        step = "writing the transaction"
        producer.begin_transaction()
        began = True
        for key in changed:
            sent.produce(producer, settings.topics.config_topic, key, canonical(wanted[key]))
        for key in deleted:
            sent.produce(producer, settings.topics.config_topic, key, None)
        history = canonical(wanted)
        sent.produce(
            producer,
            settings.topics.config_history_topic,
            version,
            history,
            [(CONFIG_TOPIC_HEADER, settings.topics.config_topic.encode())],
        )
        sent.produce(producer, settings.topics.config_topic, VERSION_KEY, canonical(record))
        step = "committing the transaction"
        producer.commit_transaction(timeout)
        began = False
        return ApplyResult(version, changed, deleted)
    except KafkaException as exception:
        error = exception.args[0]
        fenced = error.code() in _FENCED
        began = began and not (fenced or error.fatal())  # the broker aborted it: nothing to abort
        if fenced:
            raise VersionConflict(
                f"another rules apply to {settings.topics.config_topic} started meanwhile and goes "
                "on; nothing of this one was written"
            ) from None
        too_large = sent.too_large()
        if too_large:
            raise InvalidInput(f"{too_large}; nothing was written") from None
        raise ApplyFailed(f"{step} failed: {sent.why(error)}; nothing was written") from None
    finally:
        if began:
            _abort(producer, timeout)
        with warnings.catch_warnings():
            # A fenced producer's close tries to abort once more and warns that it cannot: the
            # broker aborted that transaction when it fenced it.
            warnings.filterwarnings("ignore", "Producer abort_transaction failed", RuntimeWarning)
            producer.close()


def _check_sizes(parts: dict[str, dict[str, Any]], max_bytes: int) -> None:
    """Refuses a part larger than a follower reads (it would refuse the part, and take the whole
    version from the history each time): the part and its size, with the setting to raise."""
    sizes = {key: len(canonical(content)) for key, content in parts.items()}
    large = sorted((size, key) for key, size in sizes.items() if size > max_bytes)
    if large:
        size, key = large[-1]
        raise InvalidInput(
            f"{key} is {size:,} bytes, more than the {max_bytes:,} of CONFIG_RECORD_MAX_BYTES "
            f"(the largest config record a processor reads; {len(large)} part(s) over it): "
            "nothing was written"
        )


class _Sent:
    """The records of an apply's transaction, and why the broker refused any."""

    def __init__(self) -> None:
        self.failures: list[tuple[int, str, KafkaError]] = []

    def produce(
        self,
        producer: Producer,
        topic: str,
        key: str,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        size = len(value or b"")
        where = f"{key} ({size:,} bytes, to {topic})"

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.failures.append((size, where, error))

        try:
            producer.produce(
                topic, key=key.encode(), value=value, headers=headers, on_delivery=delivered
            )
        except KafkaException as exception:
            self.failures.append((size, where, exception.args[0]))
            raise
        producer.poll(0)

    def too_large(self) -> str | None:
        """The largest record that was too large for the broker (or this producer), if any: the
        broker refuses a whole batch, small records sent with the large one included."""
        large = [(size, where) for size, where, e in self.failures if e.code() in _TOO_LARGE]
        if not large:
            return None
        return (
            f"{max(large)[1]} is too large for the broker's record size limit "
            "(message.max.bytes, or the topic's max.message.bytes)"
        )

    def why(self, error: KafkaError) -> str:
        """The transaction's error, with the records the broker refused, if any."""
        if not self.failures:
            return error.str()
        refused = "; ".join(f"{where}: {error.str()}" for _, where, error in self.failures[:3])
        return f"the broker refused {refused}"


_TOO_LARGE = (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)
_FENCED = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


def _abort(producer: Producer, timeout: float) -> None:
    """Aborts the open transaction; a fenced or failed producer may not even manage that, and the
    broker aborts it then (the next apply's init_transactions, or the transaction timeout)."""
    try:
        producer.abort_transaction(timeout)
    except KafkaException as exception:
        log.warning("aborting the rules transaction failed: %s", exception.args[0].str())
