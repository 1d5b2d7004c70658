"""The transactional consume-transform-produce loop: each input record's outputs exactly once.

A transaction spans a batch of input records: every output record, the rotation state of each
partition the batch touched, and the batch's consumed offsets commit together or not at all. It is
committed after ``batch_size`` records or ``commit_interval_ms``, whichever comes first. When a
transaction must abort, the consumer is rewound to the committed offsets and the rotation state to
its value at the transaction's start, so the batch is routed again as if the first try never was.

Partitions revoked in a rebalance have their open transaction committed first; partitions lost
(fenced, timed out) have it aborted. SIGTERM ends the loop after committing the open transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from processor import metrics
from processor.kafka import clients
from processor.kafka.errors import retry_transient
from processor.kafka.records import DEAD_LETTER_HEADROOM, Headers
from processor.pipeline import Pipeline, Result
from processor.rules import RotationState, Snapshot
from processor.settings import Settings
from processor.stream.rotation_log import RotationLog
from processor.wire import WireError

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 30.0
REGISTRY_RETRY_S = 2.0


class FatalError(Exception):
    """The processor cannot go on (fenced by a newer instance, a broker refusing it): exit."""


_retry_transient = retry_transient(120)


def _is_fatal(exc: KafkaException) -> bool:
    """Whether the producer can do nothing more, most often because a newer instance with its
    transactional id fenced it. ``produce`` says so with the plain code _FATAL, not flagged
    fatal; the reason is in librdkafka's log."""
    error = exc.args[0]
    return bool(error.fatal() or error.code() == KafkaError._FATAL)


def _raise_fatal(exc: KafkaException) -> NoReturn:
    raise FatalError(f"Kafka transaction: {exc.args[0].str()}") from exc


@dataclass
class _Transaction:
    """What the open transaction has done, to count it on commit or undo it on abort."""

    started: float = field(default_factory=time.monotonic)
    records: int = 0
    results: list[Result] = field(default_factory=list)
    rotation_before: dict[int, RotationState] = field(default_factory=dict)


class Loop:
    """Runs the pipeline over the input topic, transactionally, until ``stop`` is called."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        snapshot: Callable[[], Snapshot],
        poll_rules: Callable[[], None],
        stage: Callable[..., None] | None = None,
    ) -> None:
        """``stage(what, *args)`` is told what the loop is doing (``what % args``), so that a stall
        watchdog can say what stalled; see :class:`processor.metrics.Heartbeat`."""
        self._settings = settings
        self._stage = stage if stage is not None else _no_stage
        self._pipeline = pipeline
        self._snapshot = snapshot
        self._poll_rules = poll_rules
        self._rotation_log = RotationLog(settings)
        self._rotation: dict[int, RotationState] = {}
        self._txn: _Transaction | None = None
        self._stopping = False
        self._fatal: FatalError | None = None  # from a rebalance callback, for run() to raise
        self._failed = False
        """Whether the loop ended on a FatalError: its producer is not flushed on the way out."""
        self._max_wait = settings.kafka.commit_interval_ms / 1000
        self._consumer = clients.consumer(
            settings.kafka,
            settings.kafka.group_id,
            {
                "enable.auto.offset.store": False,
                "partition.assignment.strategy": "range",
                "session.timeout.ms": settings.kafka.session_timeout_ms,
                # The usual third of the session timeout, and never rarer than librdkafka's 3 s.
                "heartbeat.interval.ms": min(3000, settings.kafka.session_timeout_ms // 3),
            },
            transactional=True,
        )
        self._producer = clients.transactional_producer(
            settings.kafka,
            settings.kafka.transactional_id_or_default(),
            {
                "queue.buffering.max.messages": 1_000_000,
                # The pipeline keeps the records it makes within max_record_bytes; the headroom
                # is for dead-letter copies of inputs, which are as large as the broker took them.
                "message.max.bytes": settings.kafka.max_record_bytes + DEAD_LETTER_HEADROOM,
            },
        )

    def stop(self) -> None:
        """Asks the loop to end after the current batch (safe from a signal handler)."""
        self._stopping = True

    def _stopped_wait(self, seconds: float) -> None:
        """Waits ``seconds`` before a retry, unless asked to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        """Consumes until ``stop``; ``on_idle`` is called whenever a poll returns nothing."""
        self._stage("waiting on Kafka (initialising transactions)")
        self._producer.init_transactions(KAFKA_TIMEOUT_S)
        self._consumer.subscribe(
            [self._settings.topics.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self._stopping:
                self._poll_rules()
                wait = 0.01 if self._txn else self._max_wait
                self._stage("waiting on Kafka (polling %s)", self._settings.topics.input_topic)
                messages = self._consumer.consume(self._settings.processor.batch_size, timeout=wait)
                if self._fatal is not None:
                    raise self._fatal
                try:
                    for message in messages:
                        self._take(message)
                    if self._txn and self._due():
                        self._commit()
                except KafkaException as exc:
                    self._recover(exc)
                except WireError as exc:  # only transient ones leave the pipeline
                    log.warning("schema registry unavailable, retrying the batch: %s", exc)
                    self._abort()
                    self._stopped_wait(REGISTRY_RETRY_S)
                if not messages and on_idle is not None and self._txn is None:
                    on_idle()
            if self._txn:
                self._commit()
        except FatalError:
            # Nothing of the open transaction can commit: closing the consumer must not try, and
            # the producer has nothing to flush that the broker would take.
            self._txn = None
            self._failed = True
            raise
        finally:
            self._consumer.close()
            self._close_producer()

    def _close_producer(self) -> None:
        """Sends what is still queued, then closes the producer.

        A producer that failed (fenced) refuses the flush and its close too, and confluent-kafka
        can turn that refusal into a SystemError: none of it may hide the FatalError that ends
        the loop (and make a fenced processor exit 1 rather than 5), so it is closed without a
        flush and whatever its close raises is only logged.
        """
        if self._failed:
            try:
                self._producer.close()
            except Exception as exc:  # the FatalError on its way out says why the loop ended
                log.warning("fenced producer closed: %s", exc)
            return
        try:
            self._producer.flush(KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            log.warning("producer not flushed on exit: %s", exc.args[0].str())
        self._producer.close()

    # -- per record ----------------------------------------------------------------------------

    def _take(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise FatalError(f"consumer: {error.str()}")
            log.warning("consumer: %s", error.str())
            return
        if self._txn is None:
            self._begin()
        assert self._txn is not None
        partition = message.partition() or 0
        rotation = self._rotation.get(partition)
        if rotation is None:
            rotation = self._rotation[partition] = RotationState()
        if partition not in self._txn.rotation_before:
            self._txn.rotation_before[partition] = rotation.copy()
        self._stage("routing the record at %s[%s]@%s", message.topic(), partition, message.offset())
        result = self._pipeline.process(message, self._snapshot(), rotation)
        for record in result.records:
            self._produce(record.topic, record.key, record.value, record.headers, record.timestamp)
        self._txn.records += 1
        self._txn.results.append(result)
        metrics.LEADS_CONSUMED.labels(topic=message.topic() or "").inc()

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp: int = 0,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, key=key, value=value, headers=headers, timestamp=timestamp
                )
                return
            except BufferError:  # the only wait in producing: told only when it happens
                self._stage("waiting on Kafka (the producer's queue is full, at %s)", topic)
                self._producer.poll(0.05)

    # -- transactions --------------------------------------------------------------------------

    def _due(self) -> bool:
        assert self._txn is not None
        return (
            self._txn.records >= self._settings.processor.batch_size
            or time.monotonic() - self._txn.started >= self._max_wait
        )

    def _begin(self) -> None:
        self._producer.begin_transaction()
        self._txn = _Transaction()

    def _commit(self) -> None:
        """Commits the open transaction; aborts and rewinds it when Kafka says it must."""
        txn = self._txn
        assert txn is not None
        self._stage("waiting on Kafka (committing the transaction)")
        try:
            positions = [
                p for p in self._consumer.position(self._consumer.assignment()) if p.offset >= 0
            ]
            # Every partition whose offset commits gets its state beside it, touched or not, so
            # that a committed offset always has the state that belongs to it.
            for position in positions:
                state = self._rotation.get(position.partition)
                if state is not None:
                    record = self._rotation_log.record(position.partition, state, position.offset)
                    self._produce(self._rotation_log.topic, *record)
            self._send_offsets(positions)
            self._commit_transaction()
        except KafkaException as exc:
            self._recover(exc)
            return
        self._txn = None
        metrics.TRANSACTIONS.labels(result="committed").inc()
        now = time.time()
        for result in txn.results:
            result.count(now)
        self._update_lag()

    def _recover(self, exc: KafkaException) -> None:
        """Aborts and rewinds on an abortable error; a fatal one ends the processor.

        A transaction that failed in the background (after a broker restart, a produce request
        answered OUT_OF_ORDER_SEQUENCE_NUMBER) shows first as ``produce`` refusing with a plain
        _STATE error, not flagged abortable: with a transaction open, that calls for an abort too.
        """
        if _is_fatal(exc):
            self._txn = None  # nothing of it can commit now: closing the consumer must not try
            _raise_fatal(exc)
        error = exc.args[0]
        failed_meanwhile = self._txn is not None and error.code() == KafkaError._STATE
        if not (error.txn_requires_abort() or failed_meanwhile):
            raise exc
        log.warning("transaction aborted, re-processing from committed offsets: %s", error.str())
        self._abort()

    @_retry_transient
    def _send_offsets(self, positions: list[TopicPartition]) -> None:
        self._producer.send_offsets_to_transaction(
            positions, self._consumer.consumer_group_metadata(), KAFKA_TIMEOUT_S
        )

    @_retry_transient
    def _commit_transaction(self) -> None:
        self._producer.commit_transaction(KAFKA_TIMEOUT_S)

    def _abort(self) -> None:
        """Aborts the open transaction and rewinds offsets and rotation state to its start."""
        txn = self._txn
        self._txn = None
        if txn is None:
            return
        self._stage("waiting on Kafka (aborting the transaction)")
        try:
            self._producer.abort_transaction(KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            if _is_fatal(exc):  # fenced while the transaction failed for another reason
                _raise_fatal(exc)
            raise
        metrics.TRANSACTIONS.labels(result="aborted").inc()
        self._rotation.update(txn.rotation_before)
        assigned = self._consumer.assignment()
        if assigned:
            for committed in self._consumer.committed(assigned, timeout=KAFKA_TIMEOUT_S):
                offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
                self._consumer.seek(TopicPartition(committed.topic, committed.partition, offset))

    def _update_lag(self) -> None:
        for position in self._consumer.position(self._consumer.assignment()):
            if position.offset < 0:
                continue
            _, high = self._consumer.get_watermark_offsets(position, cached=True)
            if high >= 0:
                metrics.CONSUMER_LAG.labels(partition=str(position.partition)).set(
                    max(0, high - position.offset)
                )

    # -- rebalances ----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # read_committed: the offsets of a transaction still completing are waited for.
        self._stage("waiting on Kafka (offsets and rotation state of assigned partitions)")
        committed = consumer.committed(partitions, timeout=KAFKA_TIMEOUT_S)
        restored = self._rotation_log.restore({p.partition: p.offset for p in committed})
        self._rotation.update(restored)
        log.info("assigned partitions %s", sorted(restored))

    @contextmanager
    def _keeping_fatal(self) -> Iterator[None]:
        """Keeps a ``FatalError`` of a rebalance callback for ``run`` to raise.

        librdkafka calls the callbacks from inside ``consume``; an exception raised through it
        stays pending in the client, and a later call (the producer's flush) then fails with a
        SystemError instead of ending the processor with code 5.
        """
        try:
            yield
        except FatalError as error:
            self._fatal = error

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._keeping_fatal():
            if self._txn is not None:
                self._commit()
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Aborts the open transaction of partitions this processor lost (its session timed out,
        say while it was frozen). When a newer instance with the same transactional id took over
        meanwhile, the abort is refused as fenced: this processor must end, not go on idle."""
        with self._keeping_fatal():
            try:
                if self._txn is not None:
                    self._abort()
            except KafkaException as exc:  # a fatal one leaves _abort as FatalError
                log.warning("abort after losing partitions failed: %s", exc.args[0].str())
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            self._rotation.pop(partition.partition, None)
        metrics.CONSUMER_LAG.clear()  # the next commit sets it again for what stays assigned
        log.info("revoked partitions %s", sorted(p.partition for p in partitions))


def _no_stage(what: str, *args: object) -> None:
    """Where nothing watches the loop, what it does goes untold."""
