"""The transactional consume-transform-produce loop: each consumed record's outputs exactly once.

One loop runs one stage of the processor (``processor.stream.match``, ``processor.stream.decide``):
it consumes the stage's topics (the match stage reads leads and returns) in the stage's group and
hands each record to the stage, which says what to produce for it. A transaction spans a batch of
consumed records: every output record, the state changes of each partition the batch touched (the
decide stage's; the match stage keeps none), and the batch's consumed offsets commit together or
not at all.

A transaction commits as soon as the stage has caught up (a poll finds no record ready), after
``batch_size`` records, or once it has been open ``commit_interval_ms``, whichever comes first
(group commit). At low load a transaction holds the few records that came while the one before
committed, so a record waits about one commit in each stage, not the interval; under load records
keep coming, transactions grow by themselves, and the batch size and the interval bound them and
the wait of the first record in them. With no transaction open, the loop waits for a first record
(up to the interval, to come round), then takes whatever else is ready without waiting.
When a transaction must abort, the consumer is rewound to the committed offsets and the state to its
committed value, so the batch is routed again as if the first try never was.

Partitions revoked in a rebalance have their open transaction committed first; partitions lost
(fenced, timed out) have it aborted. SIGTERM ends the loop after committing the open transaction.

The loop makes none of its clients: the stage, its state, the consumer and the transactional
session are given to it (:func:`processor_consumer`, :func:`processor_session` make the real
ones), so that its failure paths can be driven by fakes in unit tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from processor import metrics
from processor.kafka import clients
from processor.kafka.errors import FatalError, consumed
from processor.kafka.records import DEAD_LETTER_HEADROOM, InputRecord, OutputRecord
from processor.kafka.session import KAFKA_TIMEOUT_S, Stage, TransactionalSession
from processor.settings import Settings
from processor.stream.result import Result
from processor.wire import WireError

log = logging.getLogger(__name__)

REGISTRY_RETRY_S = 2.0

TAKEN_AT_ONCE = 50
"""The most records the loop takes from its consumer at a time. Whether the open transaction is
due is known only between takes, and the consumer of a stage under load holds thousands: a take
is kept to what a stage routes in a few tens of milliseconds (a decision costs up to about a
millisecond), so that the commit interval bounds how long a transaction stays open."""


Rebalanced = Callable[[Consumer, list[TopicPartition]], None]


class InputConsumer(Protocol):
    """What the loop uses of a confluent-kafka ``Consumer`` (fakes in tests implement it)."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: Rebalanced | None = ...,
        on_revoke: Rebalanced | None = ...,
        on_lost: Rebalanced | None = ...,
    ) -> None: ...
    def poll(self, timeout: float) -> Message | None: ...
    def consume(self, num_messages: int, timeout: float) -> list[Message]: ...
    def assignment(self) -> list[TopicPartition]: ...
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...
    def committed(
        self, partitions: list[TopicPartition], timeout: float
    ) -> list[TopicPartition]: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def consumer_group_metadata(self) -> object: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int] | None: ...
    def close(self) -> None: ...


class StreamStage(Protocol):
    """One stage of the processor: what it makes of each record of its topic, or of its topics
    when it has a ``topics`` attribute too (see :func:`consumed_topics`)."""

    topic: str

    def process(self, message: InputRecord) -> Result: ...


def consumed_topics(stage: StreamStage) -> tuple[str, ...]:
    """What the loop of ``stage`` subscribes to: the stage's ``topics`` when it reads several,
    else its ``topic``.

    A stage with state reads one topic: its state is kept per partition of that topic.
    """
    several: tuple[str, ...] = getattr(stage, "topics", ())
    return several or (stage.topic,)


class StageState(Protocol):
    """A stage's state, changed through the loop's transactions (``DecideState``, ``NoState``)."""

    def assign(self, committed: Mapping[int, int]) -> None: ...
    def revoke(self, partitions: Iterable[int]) -> None: ...
    def changelog(self, offsets: Mapping[int, int]) -> list[OutputRecord]: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class StageIds:
    """What tells a stage's clients from the other stage's: its consumer group and its
    transactional id."""

    group_id: str
    transactional_id: str

    @classmethod
    def match(cls, settings: Settings) -> StageIds:
        """The match stage's: the processor's group and transactional id, as before the split."""
        kafka = settings.kafka
        return cls(kafka.group_id, kafka.transactional_id_or_default())

    @classmethod
    def decide(cls, settings: Settings) -> StageIds:
        """The decide stage's: ``<GROUP_ID>.decide`` and ``<TRANSACTIONAL_ID>.decide``."""
        kafka = settings.kafka
        return cls(f"{kafka.group_id}.decide", f"{kafka.transactional_id_or_default()}.decide")


def processor_consumer(settings: Settings, ids: StageIds) -> Consumer:
    """A stage's group consumer: offsets only ever committed in its transactions."""
    return clients.consumer(
        settings.kafka,
        ids.group_id,
        {
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "range",
            **clients.group_session(settings.kafka),
        },
        transactional=True,
    )


def processor_session(
    settings: Settings, ids: StageIds, stage: Stage | None = None
) -> TransactionalSession:
    """A stage's transactional session, under its stable transactional id."""
    producer = clients.transactional_producer(
        settings.kafka,
        ids.transactional_id,
        {
            "queue.buffering.max.messages": 1_000_000,
            # The stages keep the records they make within max_record_bytes; the headroom is
            # for dead-letter copies of inputs, which are as large as the broker took them.
            "message.max.bytes": settings.kafka.max_record_bytes + DEAD_LETTER_HEADROOM,
        },
    )
    return TransactionalSession(producer, stage)


@dataclass
class _Transaction:
    """What the open transaction has done, to count it on commit."""

    started: float
    records: int = 0
    results: list[Result] = field(default_factory=list)


class Loop:
    """Runs a stage over its topic, transactionally, until ``stop`` is called."""

    def __init__(
        self,
        settings: Settings,
        stage: StreamStage,
        poll_rules: Callable[[], None],
        *,
        consumer: InputConsumer,
        session: TransactionalSession,
        state: StageState,
        doing: Stage | None = None,
        name: str = "stage",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``doing(what, *args)`` is told what the loop is doing (``what % args``), so that a
        stall watchdog can say what stalled; see :class:`processor.metrics.Heartbeat`. ``name``
        labels the loop's metrics.
        ``clock`` times how long a transaction has been open (a fake one drives the commit
        policy in unit tests)."""
        self._settings = settings
        self._stage = doing if doing is not None else _no_stage
        self._work = stage
        self._topics = consumed_topics(stage)
        self._poll_rules = poll_rules
        self._consumer = consumer
        self._session = session
        self._state = state
        self._txn: _Transaction | None = None
        self._stopping = False
        self._fatal: FatalError | None = None  # from a rebalance callback, for run() to raise
        self._max_wait = settings.kafka.commit_interval_ms / 1000
        self._clock = clock
        self._commit_seconds = metrics.COMMIT_SECONDS.labels(stage=name)

    def stop(self) -> None:
        """Asks the loop to end after the current batch (safe from a signal handler)."""
        self._stopping = True

    def _stopped_wait(self, seconds: float) -> None:
        """Waits ``seconds`` before a retry, unless asked to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        """Consumes until ``stop``; ``on_idle`` is called whenever a poll finds nothing and no
        transaction is left open."""
        try:
            self._session.init()
            self._consumer.subscribe(
                list(self._topics),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not self._stopping:
                self._poll_rules()
                messages = self._ready()
                if self._fatal is not None:
                    raise self._fatal
                try:
                    for message in messages:
                        self._take(message)
                    if self._txn and (not messages or self._due()):  # caught up, or bounded
                        self._commit()
                except KafkaException as exc:
                    self._recover(exc)
                except WireError as exc:  # only transient ones leave a stage
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
            self._session.fail()
            raise
        finally:
            self._consumer.close()
            self._session.close()
            self._state.close()

    def _ready(self) -> list[Message]:
        """The records the consumer holds now, as many as the open transaction has room for and
        at most ``TAKEN_AT_ONCE``.

        With no transaction open there is nothing to commit, so the first record is waited for
        (up to the commit interval, for the loop to come round); the rest are taken as they are.
        ``consume(n, timeout)`` alone would not do: it waits out its timeout until it has ``n``.
        """
        room = self._settings.processor.batch_size - (self._txn.records if self._txn else 0)
        room = min(room, TAKEN_AT_ONCE)
        self._stage("waiting on Kafka (polling %s)", ", ".join(self._topics))
        if self._txn is not None:
            return self._consumer.consume(room, timeout=0)
        first = self._consumer.poll(self._max_wait)
        if first is None:
            return []
        return [first, *(self._consumer.consume(room - 1, timeout=0) if room > 1 else ())]

    # -- per record ----------------------------------------------------------------------------

    def _take(self, message: Message) -> None:
        if not consumed(message):
            return
        if self._txn is None:
            self._session.begin()
            self._txn = _Transaction(self._clock())
        partition = message.partition() or 0
        self._stage("routing the record at %s[%s]@%s", message.topic(), partition, message.offset())
        result = self._work.process(message)
        for record in result.records:
            self._session.produce(record)
        self._txn.records += 1
        self._txn.results.append(result)

    # -- transactions --------------------------------------------------------------------------

    def _due(self) -> bool:
        """Whether the open transaction is full or has been open the commit interval: under load
        the stage never catches up, and these bound the transaction."""
        assert self._txn is not None
        return (
            self._txn.records >= self._settings.processor.batch_size
            or self._clock() - self._txn.started >= self._max_wait
        )

    def _commit(self) -> None:
        """Commits the open transaction; aborts and rewinds it when Kafka says it must."""
        txn = self._txn
        assert txn is not None
        started = time.monotonic()
        try:
            positions = [
                p for p in self._consumer.position(self._consumer.assignment()) if p.offset >= 0
            ]
            # Every partition whose offset commits gets its state beside it, touched or not, so
            # that a committed offset always has the state that belongs to it.
            for record in self._state.changelog({p.partition: p.offset for p in positions}):
                self._session.produce(record)
            self._session.commit(positions, self._consumer.consumer_group_metadata())
        except KafkaException as exc:
            self._recover(exc)
            return
        self._txn = None
        self._state.commit()
        self._commit_seconds.observe(time.monotonic() - started)
        metrics.TRANSACTIONS.labels(result="committed").inc()
        now = time.time()
        for result in txn.results:
            result.count(now)
        self._update_lag()

    def _recover(self, exc: KafkaException) -> None:
        """Aborts and rewinds on an abortable error; a fatal one ends the processor (see
        :meth:`TransactionalSession.recover`)."""
        self._session.recover(exc)
        log.warning("re-processing from the committed offsets")
        self._rewind()

    def _abort(self) -> None:
        """Aborts the open transaction and rewinds offsets and state to its start."""
        if self._txn is None:
            return
        self._session.abort()
        self._rewind()

    def _rewind(self) -> None:
        """After an abort: state and consumer back to the committed offsets."""
        if self._txn is not None:
            metrics.TRANSACTIONS.labels(result="aborted").inc()
        self._txn = None
        self._state.rollback()
        assigned = self._consumer.assignment()
        if assigned:
            for committed in self._consumer.committed(assigned, timeout=KAFKA_TIMEOUT_S):
                offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
                self._consumer.seek(TopicPartition(committed.topic, committed.partition, offset))

    def _update_lag(self) -> None:
        for position in self._consumer.position(self._consumer.assignment()):
            if position.offset < 0:
                continue
            watermarks = self._consumer.get_watermark_offsets(position, cached=True)
            high = watermarks[1] if watermarks else -1
            if high >= 0:
                metrics.CONSUMER_LAG.labels(
                    topic=position.topic, partition=str(position.partition)
                ).set(max(0, high - position.offset))

    # -- rebalances ----------------------------------------------------------------------------

    def _on_assign(self, consumer: object, partitions: list[TopicPartition]) -> None:
        # read_committed: the offsets of a transaction still completing are waited for.
        self._stage("waiting on Kafka (offsets and state of assigned partitions)")
        committed = self._consumer.committed(partitions, timeout=KAFKA_TIMEOUT_S)
        self._state.assign({p.partition: p.offset for p in committed})
        self._log_partitions("assigned", committed)

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

    def _on_revoke(self, consumer: object, partitions: list[TopicPartition]) -> None:
        with self._keeping_fatal():
            if self._txn is not None:
                self._commit()
        self._forget(partitions)

    def _on_lost(self, consumer: object, partitions: list[TopicPartition]) -> None:
        """Aborts the open transaction of partitions this processor lost (its session timed out,
        say while it was frozen). When a newer instance with the same transactional id took over
        meanwhile, the abort is refused as fenced: this processor must end, not go on idle."""
        with self._keeping_fatal():
            try:
                self._abort()
            except KafkaException as exc:  # a fatal one leaves _abort as FatalError
                log.warning("abort after losing partitions failed: %s", exc.args[0].str())
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self._state.revoke(p.partition for p in partitions)
        for p in partitions:  # the next commit sets it again for what stays assigned
            metrics.CONSUMER_LAG.remove(p.topic, str(p.partition))
        self._log_partitions("revoked", partitions)

    def _log_partitions(self, what: str, partitions: list[TopicPartition]) -> None:
        """One line per consumed topic: ``assigned partitions [0, 2] of leads.submitted``."""
        for topic in self._topics:
            numbers = sorted(p.partition for p in partitions if p.topic == topic)
            log.info("%s partitions %s of %s", what, numbers, topic)


def _no_stage(what: str, *args: object) -> None:
    """Where nothing watches the loop, what it does goes untold."""
