"""The transactional session: begin, produce, send offsets, commit, and what each failure means.

The processor loop and the delivery workers both consume, produce and commit their consumed offsets
in one Kafka transaction. What they do around it differs (a batch of leads; one delivery), but the
transaction's life and the reading of its errors are the same, and are here:

- a *transient* error (a coordinator moving, a request timing out) is retried with backoff by the
  call itself (:func:`processor.kafka.errors.retry_transient`);
- an *abortable* one (the broker aborted the transaction, a produce failed in the background) is
  handled by :meth:`TransactionalSession.recover`: the transaction is aborted, and the caller
  redoes its work from its committed offsets;
- a *fatal* one (fenced by a newer instance with the same transactional id) raises
  :class:`~processor.kafka.errors.FatalError`: nothing more can be committed, the process ends.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import NoReturn, Protocol, cast

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from processor.kafka.errors import FatalError, is_fatal, retry_transient
from processor.kafka.records import Headers, OutputRecord

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 30.0

UNASSIGNED = -1
"""The partition librdkafka's partitioner chooses (by key): ``RD_KAFKA_PARTITION_UA``."""

OnDelivery = Callable[[KafkaError | None, Message], None]
"""Called with the broker's answer to one record: its error (None once written) and the record."""

_retry_transient = retry_transient(120)


class TransactionalProducer(Protocol):
    """What the session uses of a confluent-kafka ``Producer`` (fakes in tests implement it)."""

    def init_transactions(self, timeout: float) -> None: ...
    def begin_transaction(self) -> None: ...
    def produce(
        self,
        topic: str,
        *,
        key: bytes | None = ...,
        value: bytes | None = ...,
        headers: Headers | None = ...,
        timestamp: int = ...,
        partition: int = ...,
        on_delivery: OnDelivery | None = ...,
    ) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float
    ) -> None: ...
    def commit_transaction(self, timeout: float) -> None: ...
    def abort_transaction(self, timeout: float) -> None: ...
    def close(self) -> object: ...


Stage = Callable[..., None]
"""``stage(what, *args)``: told what the session waits on, for a stall watchdog to name it."""


class TransactionalSession:
    """One transactional producer's transactions, one at a time."""

    def __init__(self, producer: TransactionalProducer, stage: Stage | None = None) -> None:
        self._producer = producer
        self._stage = stage if stage is not None else _untold
        self.open = False
        """Whether a transaction is open (begun, neither committed nor aborted)."""
        self._failed = False

    def init(self, timeout: float = KAFKA_TIMEOUT_S) -> None:
        """Fences earlier instances with the same transactional id, aborting what they left open."""
        self._stage("waiting on Kafka (initialising transactions)")
        try:
            self._producer.init_transactions(timeout)
        except KafkaException as exc:
            if is_fatal(exc):
                self._raise_fatal(exc)
            raise

    def begin(self) -> None:
        self._producer.begin_transaction()
        self.open = True

    def produce(self, record: OutputRecord, on_delivery: OnDelivery | None = None) -> None:
        """Queues ``record`` in the open transaction; waits only while the producer's queue is
        full, the one case where producing waits, and says so.

        ``on_delivery`` learns which record the broker refused, where the transaction's own
        error does not say: the answers that arrived are served at once, so that a refusal is
        known before a later record of the failed transaction is refused for that failure."""
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=record.headers,
                    timestamp=record.timestamp,
                    partition=UNASSIGNED if record.partition is None else record.partition,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                self._stage("waiting on Kafka (the producer's queue is full, at %s)", record.topic)
                self._producer.poll(0.05)
        if on_delivery is not None:
            self._producer.poll(0)

    def flush(self, timeout: float = KAFKA_TIMEOUT_S) -> None:
        """Sends what is queued now. A transaction of one small record commits in milliseconds
        when its record went ahead of its offsets; otherwise the client waits for its next
        partition registration (~100 ms)."""
        self._producer.flush(timeout)

    def commit(
        self, offsets: list[TopicPartition] | None = None, group_metadata: object = None
    ) -> None:
        """Sends the consumed ``offsets`` of the group, if any, and commits the open transaction;
        a producer that consumed nothing (publishing a document, say) commits its records alone."""
        self._stage("waiting on Kafka (committing the transaction)")
        if offsets is not None:
            self._send_offsets(offsets, group_metadata)
        self._commit()
        self.open = False

    def recover(self, exc: KafkaException) -> None:
        """Aborts the open transaction when ``exc`` calls for it; raises :class:`FatalError` when
        it is fatal, and ``exc`` itself when it is neither (a caller's mistake, say).

        A transaction that failed in the background (after a broker restart, a produce request
        answered OUT_OF_ORDER_SEQUENCE_NUMBER) shows first as ``produce`` refusing with a plain
        _STATE error, not flagged abortable: with a transaction open, that calls for an abort too.
        """
        if is_fatal(exc):
            self._raise_fatal(exc)
        error = exc.args[0]
        failed_meanwhile = self.open and error.code() == KafkaError._STATE
        if not (error.txn_requires_abort() or failed_meanwhile):
            raise exc
        log.warning("transaction aborted: %s", error.str())
        self.abort()

    def abort(self) -> None:
        """Aborts the open transaction, if any."""
        if not self.open:
            return
        self.open = False
        self._stage("waiting on Kafka (aborting the transaction)")
        try:
            self._producer.abort_transaction(KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            if is_fatal(exc):  # fenced while the transaction failed for another reason
                self._raise_fatal(exc)
            raise

    def close(self) -> None:
        """Sends what is still queued, then closes the producer.

        A producer that failed (fenced) refuses the flush and its close too, and confluent-kafka
        can turn that refusal into a SystemError: none of it may hide the FatalError that ends
        the process (exit 5, not 1), so it is closed without a flush and whatever its close
        raises is only logged.
        """
        if self._failed:
            try:
                self._producer.close()
            except Exception as exc:  # the FatalError on its way out says why the process ends
                log.warning("fenced producer closed: %s", exc)
            return
        try:
            self._producer.flush(KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            log.warning("producer not flushed on exit: %s", exc.args[0].str())
        self._producer.close()

    def fail(self) -> None:
        """Marks the session failed (a fatal error ended it elsewhere): nothing more is sent."""
        self.open = False
        self._failed = True

    def _raise_fatal(self, exc: KafkaException) -> NoReturn:
        self.fail()
        raise FatalError(f"Kafka transaction: {exc.args[0].str()}") from exc

    @_retry_transient
    def _send_offsets(self, offsets: list[TopicPartition], group_metadata: object) -> None:
        self._producer.send_offsets_to_transaction(offsets, group_metadata, KAFKA_TIMEOUT_S)

    @_retry_transient
    def _commit(self) -> None:
        self._producer.commit_transaction(KAFKA_TIMEOUT_S)


_FENCED_CODES = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
"""What a producer hears once another one with its transactional id took over."""


def _kafka_exception(exception: KafkaException | FatalError) -> KafkaException:
    """The client's own exception: the session raises a fatal one as a FatalError caused by it,
    and a command tells a fenced producer (a concurrent run) from a broken one by its code."""
    if isinstance(exception, FatalError):
        return cast(KafkaException, exception.__cause__)
    return exception


def refusal(
    session: TransactionalSession, exception: KafkaException | FatalError
) -> tuple[KafkaError, bool]:
    """Why a command's one transaction failed, and whether another instance of the command
    fenced it; a transaction the broker aborted itself (fenced, or fatal) is marked failed, so
    that nothing tries to abort it again."""
    refused = _kafka_exception(exception)
    error: KafkaError = refused.args[0]
    fenced = error.code() in _FENCED_CODES
    if fenced or is_fatal(refused):
        session.fail()
    return error, fenced


def close_quietly(session: TransactionalSession, what: str) -> None:
    """Aborts the transaction still open and closes the producer, for a command's one
    transaction however it ended. A fenced or failed producer may not even manage the abort, and
    the broker aborts it then (the next init_transactions, or the transaction timeout)."""
    try:
        session.abort()
    except (KafkaException, FatalError) as exception:
        why = _kafka_exception(exception).args[0].str()
        log.warning("aborting the %s transaction failed: %s", what, why)
    with warnings.catch_warnings():
        # A fenced producer's close tries to abort once more and warns that it cannot: the
        # broker aborted that transaction when it fenced it.
        warnings.filterwarnings("ignore", "Producer abort_transaction failed", RuntimeWarning)
        session.close()


def _untold(what: str, *args: object) -> None:
    """Where nothing watches the session, what it waits on goes untold."""
