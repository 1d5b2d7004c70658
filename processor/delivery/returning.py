"""Returning one delivery from the command line: the return written, and its answer awaited.

``lead-router return`` writes a ``DeliveryReturn`` to the returns topic, as a partner's system
would, and waits for the processor's answer: the receipt of that delivery with status ``returned``
(credited) or ``return_refused``. The receipts topic's end offsets are taken before the return is
written, so that the answer read is one written after it, never an earlier return's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as Partition

from processor.delivery.receipts import Receipt, receipt_key
from processor.errors import ServiceUnavailable
from processor.kafka import clients
from processor.kafka.admin import COMPACTED, TopicAdmin, TopicSpec
from processor.kafka.reading import end_offsets, partitions_of
from processor.kafka.session import KAFKA_TIMEOUT_S
from processor.settings import Settings
from processor.wire import Codec, DecodeError

ANSWERS = ("returned", "return_refused")
"""The receipt statuses that answer a return."""


@dataclass(frozen=True)
class Written:
    """Where the return was written."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def return_delivery(
    settings: Settings, codec: Codec, record: dict[str, Any], wait_s: float
) -> tuple[Written, Receipt | None]:
    """Writes the ``DeliveryReturn`` ``record`` (the returns topic and the receipts topic are
    created when missing) and gives where it went, with the answer that came within ``wait_s``
    seconds (None: none came, or ``wait_s`` is 0)."""
    topics = settings.topics
    TopicAdmin(settings).ensure(
        [TopicSpec(topics.returns_topic), TopicSpec(topics.receipts_topic, config=COMPACTED)]
    )
    consumer = clients.reading_consumer(settings.kafka, "return")
    try:
        deadline = time.monotonic() + KAFKA_TIMEOUT_S
        partitions = partitions_of(consumer, topics.receipts_topic, deadline)
        ends = end_offsets(consumer, partitions, KAFKA_TIMEOUT_S)
        written = _write(settings, codec, record)
        if wait_s <= 0:
            return written, None
        consumer.assign([Partition(topics.receipts_topic, p, end) for p, end in ends.items()])
        return written, _answer(consumer, codec, record["delivery_id"], wait_s)
    finally:
        consumer.close()


def _write(settings: Settings, codec: Codec, record: dict[str, Any]) -> Written:
    """Produces the return, keyed by its delivery id, and waits until the brokers have it."""
    topic = settings.topics.returns_topic
    value = codec.encode(topic, "DeliveryReturn", record)
    producer = clients.producer(settings.kafka, {"enable.idempotence": True})
    done: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        topic,
        key=record["delivery_id"].encode(),
        value=value,
        on_delivery=lambda error, message: done.append((error, message)),
    )
    if producer.flush(KAFKA_TIMEOUT_S) or not done:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka.bootstrap_servers} did not take the return within "
            f"{KAFKA_TIMEOUT_S:.0f} s; it may still be written"
        )
    error, message = done[0]
    if error is not None:
        raise ServiceUnavailable(f"writing the return to {topic} failed: {error.str()}")
    return Written(topic, message.partition() or 0, message.offset() or 0)


def _answer(consumer: Consumer, codec: Codec, delivery_id: str, wait_s: float) -> Receipt | None:
    """The first receipt answering a return of ``delivery_id`` that the assigned consumer reads
    within ``wait_s`` seconds; records that are not receipts are passed over."""
    deadline = time.monotonic() + wait_s
    keys = {receipt_key({"delivery_id": delivery_id, "status": status}) for status in ANSWERS}
    while (left := deadline - time.monotonic()) > 0:
        message = consumer.poll(min(left, 0.5))
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(error)
        if message.key() not in keys:
            continue
        try:
            receipt = codec.decode(message.topic() or "", message.value() or b"", "DeliveryReceipt")
        except DecodeError as unreadable:
            if unreadable.transient:
                raise ServiceUnavailable(f"reading the receipts: {unreadable}") from unreadable
            continue
        if receipt["delivery_id"] == delivery_id and receipt["status"] in ANSWERS:
            return receipt
    return None
