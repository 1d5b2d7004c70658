"""Publishing a rules document to the config topic: what ``rules apply`` writes, in one transaction.

The changed parts, tombstones for the parts gone, the whole version to the history topic, and a
closing ``meta/version`` record (number, digest, part count) go in one Kafka transaction, so a
follower (read_committed) sees a version's parts together with its version record or not at all.
Applies are compare-and-set: one transactional id per config topic fences a concurrent apply.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from processor.control.history import (
    CONFIG_TOPIC_HEADER,
    HISTORY_MAX_BYTES,
    HOST_HEADER,
    USER_HEADER,
)
from processor.control.records import VERSION_KEY, canonical, digest_of
from processor.control.state import read_config
from processor.errors import InvalidInput, UserError
from processor.kafka import clients
from processor.kafka.errors import FatalError
from processor.kafka.records import Headers, OutputRecord
from processor.kafka.session import (
    TransactionalSession,
    close_quietly,
    refusal,
)
from processor.rules import RulesDocument, document_to_parts
from processor.settings import Settings


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
    applied_by: str | None = None,
) -> ApplyResult:
    """Writes the parts that differ from the topic, tombstones for parts gone, the version to the
    history and a new version record, in one transaction. Nothing is written when nothing changed.

    Compare-and-set: the topic is read after the producer fenced any earlier apply, so what it
    holds then is what this apply changes; with ``expect_version`` ("0": none yet), a version in
    force other than that one raises :class:`VersionConflict` before anything is written.

    The history record names who applied the version: ``applied_by`` (a web console passes its
    signed-in user), else the user this process runs as, and the host it runs on.
    """
    wanted = document_to_parts(document)
    digest = digest_of(wanted)
    _check_sizes(wanted, settings.topics.config_record_max_bytes)
    # The broker has the last word on sizes (compressed): its message.max.bytes, or the topic's
    # max.message.bytes. The history takes a whole document in one record.
    session = TransactionalSession(
        clients.transactional_producer(
            settings.kafka,
            apply_transactional_id(settings),
            {"linger.ms": 0, "compression.type": "zstd", "message.max.bytes": HISTORY_MAX_BYTES},
        )
    )
    sent = _Sent(session)
    step = "fencing earlier applies (init_transactions)"
    try:
        session.init(timeout)
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
        version = str(current.next_version())
        current.close()
        # Whole milliseconds: the version record's applied_at and the history record's timestamp
        # then name the same moment, to the millisecond, without float rounding between them.
        applied_ms = time.time_ns() // 1_000_000
        applied_at = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=applied_ms)
        record = {
            "version": version,
            "digest": digest,
            "applied_at": applied_at.isoformat(timespec="milliseconds"),
            "parts": len(wanted),
        }
        step = "writing the transaction"
        session.begin()
        for key in changed:
            sent.produce(settings.topics.config_topic, key, canonical(wanted[key]))
        for key in deleted:
            sent.produce(settings.topics.config_topic, key, None)
        sent.produce(
            settings.topics.config_history_topic,
            version,
            canonical(wanted),
            [
                (CONFIG_TOPIC_HEADER, settings.topics.config_topic.encode()),
                (USER_HEADER, (applied_by or applying_user()).encode()),
                (HOST_HEADER, socket.gethostname().encode()),
            ],
            applied_ms,  # what `rules history` shows as the version's time
        )
        sent.produce(settings.topics.config_topic, VERSION_KEY, canonical(record))
        step = "committing the transaction"
        session.commit()
        return ApplyResult(version, changed, deleted)
    except (KafkaException, FatalError) as exception:
        error, fenced = refusal(session, exception)
        if fenced:
            raise VersionConflict(
                f"another rules apply to {settings.topics.config_topic} started meanwhile and "
                "goes on; nothing of this one was written"
            ) from None
        too_large = sent.too_large()
        if too_large:
            raise InvalidInput(f"{too_large}; nothing was written") from None
        raise ApplyFailed(f"{step} failed: {sent.why(error)}; nothing was written") from None
    finally:
        close_quietly(session, "rules")


def applying_user() -> str:
    """The user this process runs as; its uid when the system has no name for it (a container
    running as an arbitrary uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


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

    def __init__(self, session: TransactionalSession) -> None:
        self._session = session
        self.failures: list[tuple[int, str, KafkaError]] = []

    def produce(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp_ms: int = 0,
    ) -> None:
        size = len(value or b"")
        where = f"{key} ({size:,} bytes, to {topic})"

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.failures.append((size, where, error))

        try:
            record = OutputRecord(topic, key.encode(), value, headers, timestamp_ms)
            self._session.produce(record, delivered)
        except KafkaException as exception:
            self.failures.append((size, where, exception.args[0]))
            raise

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
