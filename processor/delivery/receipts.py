"""The receipts topic: one ``DeliveryReceipt`` per delivery, keyed by its delivery id.

Workers write a receipt for every attempt at a delivery (:func:`receipt_for`): ``retrying`` while
retries are scheduled, then how it ended. They read the topic back as their memory
(:class:`DeliveredIds`); ``lead-router receipts`` shows it (:func:`read_receipts`). The topic is
compacted: the latest receipt of a delivery is the one that counts, and it stays for as long as the
topic does, so a worker remembers every delivery it made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from confluent_kafka import KafkaException, Message

from processor.delivery.outcome import Outcome, overall
from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.settings import Settings
from processor.wire import Codec, DecodeError

log = logging.getLogger(__name__)

Receipt = dict[str, Any]
Later = Literal["retrying", "reoffered"]
"""What a worker may make of an attempt that did not deliver, besides its own status."""

DONE = frozenset({"delivered", "reoffered", "returned"})
"""Latest statuses after which a delivery is never sent again: it was delivered, or its lead went
to someone else (sending it now would sell it twice)."""

REFUSED_RETURN = "return_refused"
"""A refused return says nothing new of its delivery: its receipt is kept under a key of its own
(:func:`receipt_key`), so that compaction never lets it replace the delivery's latest receipt,
and it changes no worker's memory."""


def receipt_key(receipt: Mapping[str, Any]) -> bytes:
    """The receipts topic key of ``receipt``: its delivery id, or for a refused return the
    delivery id and ``/return-refused``."""
    suffix = "/return-refused" if receipt["status"] == REFUSED_RETURN else ""
    return f"{receipt['delivery_id']}{suffix}".encode()


def detail(outcomes: Iterable[Outcome]) -> str:
    """What each destination answered at one attempt, in-process tries included; no lead data."""
    return "; ".join(map(str, outcomes)) or "the partner has no destinations"


def receipt_for(
    delivery: Mapping[str, Any],
    outcomes: Iterable[Outcome],
    attempts: int,
    later: Later | None = None,
    *,
    next_attempt_at: datetime | None = None,
    reason: str | None = None,
) -> Receipt:
    """The receipt of a ``LeadDelivery`` after attempt number ``attempts``, as of now: the status
    the destinations' answers make, unless the worker goes on with it ``later``."""
    done = list(outcomes)
    status = later or overall(done)
    return {
        "delivery_id": delivery["delivery_id"],
        "lead_id": delivery["lead_id"],
        "partner": delivery["partner"],
        "status": status,
        "at": datetime.now(UTC),
        "detail": detail(done),
        "price": delivery["price"],
        "currency": delivery["currency"],
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "revenue": delivery["price"] if status == "delivered" else None,
        "reason": reason,
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
    """The latest receipt of every delivery, and the latest refused return of each, in the order
    they were written (by ``at``)."""
    latest: dict[bytes, Receipt] = {}

    def keep(receipt: Receipt) -> None:
        latest[receipt_key(receipt)] = receipt

    scan(settings, Codec.for_registry(settings.registry), keep)
    return sorted(latest.values(), key=lambda receipt: receipt["at"])


class DeliveredIds:
    """The ids of one partner's deliveries whose latest receipt is one of :data:`DONE`: a
    worker's memory.

    A ``retrying``, ``failed`` or ``rejected`` delivery that comes again (from a retry topic, its
    lead published once more, or an operator replaying the topic) is tried again.
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

    def reload(self) -> None:
        """Reads the receipts topic to its end: what this and every other worker of the partner
        committed until now. A delivery's receipts share a key, hence a partition, so they
        come in the order they were written and the last one read is the latest."""
        self._ids.clear()
        scan(self._settings, self._codec, self.take)

    def take(self, receipt: Receipt) -> None:
        """Learns from ``receipt``, the latest of its delivery so far."""
        if receipt["partner"] != self._partner or receipt["status"] == REFUSED_RETURN:
            return
        if receipt["status"] in DONE:
            self._ids.add(receipt["delivery_id"])
        else:
            self._ids.discard(receipt["delivery_id"])
