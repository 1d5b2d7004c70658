"""The delivery loop: consume a delivery, send it everywhere, record the receipt with the offset.

Per consumed ``LeadDelivery``:

1. a delivery id that already has a ``delivered`` receipt is skipped;
2. otherwise the payload goes to each destination, temporary failures retried with backoff;
3. the receipt and the consumed offset commit in one Kafka transaction, so a receipt is on the
   topic exactly when the worker has moved past its record.

A crash between 2 and 3 leaves neither: the restarted worker finds the record again and sends it
again. That one repeat is the only one; destinations receive the delivery id so that they can drop
it (``docs/delivery.md``).

Each assignment of partitions reloads the memory of delivered ids from the receipts topic, so a
partition that moves between workers of the same partner carries what its last owner delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from processor import metrics
from processor.delivery.outcome import Outcome
from processor.delivery.parcel import Parcel
from processor.delivery.receipts import DeliveredIds, Receipt, receipt_for
from processor.delivery.sending import send
from processor.errors import InvalidInput, UserError
from processor.rules.document import PARTNER_ID
from processor.settings import Settings
from processor.stream.errors import retry_transient
from processor.stream.topics import Topics
from processor.wire import Codec, DecodeError

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 30.0
REGISTRY_RETRY_S = 2.0
RECORD_ATTEMPTS = 5
"""Tries of the receipt's transaction when Kafka asks for an abort, before the worker gives up."""

_retry_transient = retry_transient(120)


class WorkerFailed(UserError):
    """The worker cannot go on (fenced by another instance, Kafka refusing its transactions)."""

    exit_code = 5


class Interrupted(BaseException):
    """The worker was asked to stop while waiting to retry a delivery.

    A ``BaseException``, like ``KeyboardInterrupt``: it must pass through the handlers that turn a
    destination's errors into outcomes."""


class Worker:
    """Delivers one partner's leads until :meth:`stop`; one instance per partner and host."""

    def __init__(self, settings: Settings, partner: str) -> None:
        if not PARTNER_ID.fullmatch(partner):
            raise InvalidInput(f"{partner!r} is not a partner id")
        self.partner = partner
        self.topic = settings.delivery_topic(partner)
        if self.topic == settings.receipts_topic:
            raise InvalidInput(
                f"partner {partner!r}: its delivery topic {self.topic} is the receipts topic"
            )
        self.group = f"{settings.group_id}-deliver-{partner}"
        """The worker's consumer group: the partner's workers share it, and its offsets."""
        self._settings = settings
        self._codec = Codec(settings.schema_registry_url, settings.schema_registry_config())
        self._delivered = DeliveredIds(settings, partner, self._codec)
        self._stopping = threading.Event()
        self._heartbeat = metrics.Heartbeat(settings.stall_timeout_s)
        self._ready = False
        client = settings.kafka_client_config()
        self._consumer = Consumer(
            client
            | {
                "group.id": self.group,
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        self._producer = Producer(
            settings.transactional_producer_config(
                f"{settings.transactional_id_or_default()}-deliver-{partner}"
            )
        )

    def stop(self) -> None:
        """Asks the worker to stop after the delivery in hand (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        """Delivers until :meth:`stop`."""
        if self._settings.metrics_port:
            metrics.serve(
                self._settings.metrics_port,
                lambda: self._ready,
                self._heartbeat.alive,
                host=self._settings.metrics_host,
            )
        Topics(self._settings).ensure_worker(self.partner)
        self._producer.init_transactions(KAFKA_TIMEOUT_S)
        self._consumer.subscribe([self.topic], on_assign=self._on_assign)
        self._ready = True
        try:
            while not self._stopping.is_set():
                self._heartbeat.beat()
                message = self._consumer.poll(0.2)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise WorkerFailed(f"consumer: {error.str()}")
                    log.warning("consumer: %s", error.str())
                    continue
                try:
                    self._handle(message)
                except Interrupted:
                    log.info("stopped while retrying; the delivery is taken up again at restart")
                    break
        finally:
            self._ready = False
            self._consumer.close()
            self._producer.flush(KAFKA_TIMEOUT_S)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._delivered.reload()
        log.info(
            "delivering %s partitions %s; %d deliveries were made before",
            self.topic,
            sorted(p.partition for p in partitions),
            len(self._delivered),
        )

    def _pause(self, seconds: float) -> None:
        """Waits before a retry; raises :class:`Interrupted` as soon as the worker must stop."""
        if self._stopping.wait(seconds):
            raise Interrupted

    def _handle(self, message: Message) -> None:
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        try:
            delivery = self._codec.decode(self.topic, message.value() or b"", "LeadDelivery")
        except DecodeError as error:
            if error.transient:  # the registry, not the record: try the record again
                log.warning("schema registry unavailable at %s: %s", where, error)
                self._consumer.seek(
                    TopicPartition(self.topic, message.partition() or 0, message.offset() or 0)
                )
                self._pause(REGISTRY_RETRY_S)
                return
            log.warning("skipped %s: not a LeadDelivery (%s)", where, error.reason)
            self._record(message, None)
            metrics.WORKER_DELIVERIES.labels(partner=self.partner, status="invalid").inc()
            return
        ident = delivery["delivery_id"]
        if ident in self._delivered:
            log.info("skipped %s: delivery %s was delivered before", where, ident)
            self._record(message, None)
            metrics.WORKER_DELIVERIES.labels(partner=self.partner, status="duplicate").inc()
            return
        started = time.monotonic()
        outcomes = self._send(delivery)
        sent_in = time.monotonic() - started
        receipt = receipt_for(delivery, outcomes)
        self._record(message, receipt)
        # Counted once recorded: a crash before the commit sends again, and counts then.
        metrics.WORKER_DELIVERIES.labels(partner=self.partner, status=receipt["status"]).inc()
        metrics.WORKER_ATTEMPTS.labels(partner=self.partner).inc(
            sum(outcome.attempts for outcome in outcomes)
        )
        metrics.WORKER_SEND_SECONDS.labels(partner=self.partner).observe(sent_in)
        if receipt["status"] == "delivered":
            self._delivered.add(ident)
        log.info(
            "delivery %s (lead %s): %s; %s",
            ident,
            delivery["lead_id"],
            receipt["status"],
            receipt["detail"],
        )

    def _send(self, delivery: dict[str, Any]) -> list[Outcome]:
        parcel = Parcel.of(delivery)
        return [send(uri, parcel, self._settings, self._pause) for uri in delivery["destinations"]]

    def _record(self, message: Message, receipt: Receipt | None) -> None:
        """Commits the receipt (if any) with the offset after ``message``, in one transaction.

        The delivery has happened: an abort must not undo it, so an aborted transaction is tried
        again with the same receipt rather than by sending again.
        """
        offsets = [
            TopicPartition(self.topic, message.partition() or 0, (message.offset() or 0) + 1)
        ]
        topic = self._settings.receipts_topic
        record = (
            None
            if receipt is None
            else (
                receipt["delivery_id"].encode(),
                self._codec.encode(topic, "DeliveryReceipt", receipt),
            )
        )
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                self._producer.begin_transaction()
                if record is not None:
                    self._producer.produce(topic, key=record[0], value=record[1])
                    # Sent before the offsets, the receipt's transaction commits in milliseconds;
                    # otherwise the client waits for its next partition registration (~100 ms).
                    self._producer.flush(KAFKA_TIMEOUT_S)
                self._send_offsets(offsets)
                self._commit()
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal() or not error.txn_requires_abort() or attempt == RECORD_ATTEMPTS:
                    raise WorkerFailed(f"cannot record a delivery: {error.str()}") from exc
                log.warning("receipt transaction aborted, trying again: %s", error.str())
                self._producer.abort_transaction(KAFKA_TIMEOUT_S)

    @_retry_transient
    def _send_offsets(self, offsets: list[TopicPartition]) -> None:
        self._producer.send_offsets_to_transaction(
            offsets, self._consumer.consumer_group_metadata(), KAFKA_TIMEOUT_S
        )

    @_retry_transient
    def _commit(self) -> None:
        self._producer.commit_transaction(KAFKA_TIMEOUT_S)
