"""The receipts topic: one ``DeliveryReceipt`` per delivery, keyed by its delivery id.

Workers write a receipt for every delivery they finish (:func:`receipt_for`) and read the topic
back as their memory (:class:`DeliveredIds`); ``lead-router receipts`` shows it
(:func:`read_receipts`). The topic is compacted: the latest receipt of a delivery is the one that
counts, and it stays for as long as the topic does, so a worker remembers every delivery it made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException, Message

from processor.delivery.outcome import Outcome, overall
from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.settings import Settings
from processor.wire import Codec, DecodeError

log = logging.getLogger(__name__)

Receipt = dict[str, Any]


def receipt_for(delivery: Mapping[str, Any], outcomes: Iterable[Outcome]) -> Receipt:
    """The receipt of a ``LeadDelivery`` after sending it to each destination, as of now."""
    done = list(outcomes)
    return {
        "delivery_id": delivery["delivery_id"],
        "lead_id": delivery["lead_id"],
        "partner": delivery["partner"],
        "status": overall(done),
        "at": datetime.now(UTC),
        "detail": "; ".join(map(str, done)) or "the partner has no destinations",
        "price": delivery["price"],
        "currency": delivery["currency"],
        "attempts": max((outcome.attempts for outcome in done), default=0),
    }


def scan(settings: Settings, codec: Codec, on_receipt: Callable[[Receipt], object]) -> None:
    """Feeds every committed receipt, oldest first per partition, to ``on_receipt``; a record
    that is not a receipt is logged (by position) and passed over. No topic, no receipts."""
    topic = settings.topics.receipts_topic
    consumer = reading_consumer(settings.kafka, "receipts-reader")

    def take(message: Message) -> None:
        try:
            receipt = codec.decode(topic, message.value() or b"", "DeliveryReceipt")
        except DecodeError as error:
            if error.transient:
                raise ServiceUnavailable(f"reading {topic}: {error}") from error
            log.warning(
                "%s[%s]@%s is not a receipt: %s",
                topic,
                message.partition(),
                message.offset(),
                error.reason,
            )
            return
        on_receipt(receipt)

    try:
        try:
            exists = topic in consumer.list_topics(timeout=30).topics
        except KafkaException as error:
            raise ServiceUnavailable(
                f"Kafka at {settings.kafka.bootstrap_servers} did not answer: {error.args[0].str()}"
            ) from None
        if exists:
            read_to_end(consumer, topic, take)
    finally:
        consumer.close()


def read_receipts(settings: Settings) -> list[Receipt]:
    """The latest receipt of every delivery, in the order they were written (by ``at``)."""
    latest: dict[str, Receipt] = {}

    def keep(receipt: Receipt) -> None:
        latest[receipt["delivery_id"]] = receipt

    scan(settings, Codec.for_registry(settings.registry), keep)
    return sorted(latest.values(), key=lambda receipt: receipt["at"])


class DeliveredIds:
    """The ids of one partner's deliveries that have a ``delivered`` receipt: a worker's memory.

    Only ``delivered`` counts: a failed or rejected delivery that comes again (its lead published
    once more, or an operator replaying the topic) is tried again.
    """

    def __init__(self, settings: Settings, partner: str, codec: Codec) -> None:
        self._settings = settings
        self._partner = partner
        self._codec = codec
        self._ids: set[str] = set()

    def __contains__(self, delivery_id: str) -> bool:
        return delivery_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, delivery_id: str) -> None:
        self._ids.add(delivery_id)

    def reload(self) -> None:
        """Reads the receipts topic to its end: what this and every other worker of the partner
        committed until now."""
        scan(self._settings, self._codec, self._take)

    def _take(self, receipt: Receipt) -> None:
        if receipt["partner"] == self._partner and receipt["status"] == "delivered":
            self._ids.add(receipt["delivery_id"])
