"""What happened to the leads of a span, as the audit topic says: replay's "before".

Every decision names the input record it came from and, when the decide stage made it, its place
in the order of decisions (``sequence``). Replay routes the same input records again in that order
and compares. The audit topic is read only over the span (by record time, which is when each
decision was made) plus a margin before it, where the decisions of the transaction that was open
when the span began are found: replay starts at that transaction's beginning, where the state
changelog says exactly what routing knew.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.span import Span, read_span, topic_partitions
from processor.replay.engine import Delivered, Routed
from processor.settings import Settings
from processor.wire import Codec, DecodeError

MARGIN_MS = 10 * 60_000
"""How far before the span the audit topic is read for the decisions of the transaction open at
its start: far more than any commit interval."""


@dataclass(frozen=True, slots=True)
class Past:
    """One decision the audit topic holds, with the input record it was made for."""

    sequence: int | None
    """Its place in the order of decisions; None for a lead rejected before the decide stage."""
    partition: int
    offset: int
    """The input record: partition and offset on the input topic."""
    decided_ms: int
    rules_version: str | None
    before: Routed


def read_past(
    settings: Settings,
    codec: Codec,
    since_ms: int,
    until_ms: int | None,
    progress: Callable[[int], object] = lambda read: None,
) -> list[Past]:
    """The decisions made from ``since_ms - MARGIN_MS`` to ``until_ms`` (None: now) about records
    of the input topic; a record that is not a RoutingDecision is skipped and reported on stderr.
    ``progress`` is told how many records were read, every thousand."""
    audit, input_topic = settings.topics.audit_topic, settings.topics.input_topic
    found: list[Past] = []
    read = 0

    def take(message: Message) -> None:
        nonlocal read
        read += 1
        if read % 1000 == 0:
            progress(read)
        try:
            record = codec.decode(audit, message.value() or b"", "RoutingDecision")
        except DecodeError as error:
            if error.transient:
                raise ServiceUnavailable(f"reading {audit}: {error}") from error
            where = f"{audit}[{message.partition()}]@{message.offset()}"
            print(f"lead-router: skipped {where}: {error.reason}", file=sys.stderr)
            return
        source = record["source"]
        if source["topic"] == input_topic:
            found.append(_past(record))

    consumer = reading_consumer(settings.kafka, "replay")
    try:
        partitions = topic_partitions(consumer, audit, settings.kafka.bootstrap_servers)
        if partitions is not None:
            span = Span(
                _moment(since_ms - MARGIN_MS), None if until_ms is None else _moment(until_ms)
            )
            read_span(consumer, audit, partitions, span, take)
    finally:
        consumer.close()
    progress(read)
    return found


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _past(record: dict[str, Any]) -> Past:
    deliveries = tuple(
        Delivered(d["partner"], d.get("assignment"), d["price"], d["currency"])
        for d in record["deliveries"]
    )
    before = Routed(
        record["lead_id"],
        record["outcome"],
        record.get("profile"),
        record.get("duplicate_of"),
        deliveries,
        record.get("error"),
    )
    decided = record["decided_at"]
    return Past(
        record.get("sequence"),
        record["source"]["partition"],
        record["source"]["offset"],
        int(decided.timestamp() * 1000),
        record.get("rules_version"),
        before,
    )
