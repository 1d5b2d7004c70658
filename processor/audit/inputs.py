"""The lead a decision was made for, read from the input record its audit record names.

Every audit record names its input record (topic, partition, offset), so ``audit show`` and the
console's lead page can show what came in without keeping a copy of it (a lead holds personal data,
and the input topic already keeps it for its retention). Both read one record at a time, with a
consumer of their own: asked about one lead, a read of one record is all the work there is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as Partition

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_one
from processor.settings import Settings
from processor.wire import Codec, DecodeError

READ_LEAD_TIMEOUT_S = 10.0
"""How long to wait for the input record a decision names."""


def outside_input(input_topic: str, topic: str, partition: int, offset: int) -> str | None:
    """Why the place an audit record names is no record of the input topic, in words that follow
    the place (``audit[0]@3 is not a record of leads.submitted``); None when it may be one.

    Anyone who can write the audit topic can name any place: one elsewhere is not read at all."""
    if topic != input_topic or partition < 0 or offset < 0:
        return f"is not a record of {input_topic}"
    return None


def read_input_lead(
    consumer: Consumer, codec: Codec, topic: str, partition: int, offset: int
) -> Mapping[str, Any] | str:
    """The lead of the input record at ``offset``, or why it cannot be had: the partition no
    longer (or not yet) holds it, it cannot be read, or it is not a lead. A registry that does
    not answer raises :class:`ServiceUnavailable`: asking again later may work."""
    try:
        low, high = consumer.get_watermark_offsets(
            Partition(topic, partition), timeout=READ_LEAD_TIMEOUT_S, cached=False
        )
        if not low <= offset < high:
            return f"is not held (the partition holds offsets {low} to {high - 1})"
        found = read_one(consumer, Partition(topic, partition, offset), READ_LEAD_TIMEOUT_S)
    except KafkaException as error:
        return f"cannot be read ({error.args[0].str()})"
    if found is None or not found.value():
        return "is no longer held"
    try:
        lead, _ = codec.decode_lead(topic, found.value() or b"")
    except DecodeError as error:
        if error.transient:
            raise ServiceUnavailable(f"reading {topic}: {error}") from error
        return f"is not a lead ({error.reason})"
    return lead


@contextmanager
def input_consumer(settings: Settings) -> Iterator[Consumer]:
    """The consumer :func:`read_input_lead` reads with, closed after use."""
    consumer = reading_consumer(settings.kafka, "audit-explain")
    try:
        yield consumer
    finally:
        consumer.close()
