"""What happened to the leads of a span, as the audit topic says: replay's "before".

Every decision names the input record it came from and, when the decide stage made it, its place
in the order of decisions (``sequence``). Replay routes the same input records again in that order
and compares. The audit topic is read only over the span (by record time, which is when each
decision was made) plus a margin before it, where the decisions of the transaction that was open
when the span began are found: replay starts at that transaction's beginning, where the state
changelog says exactly what routing knew.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from confluent_kafka import Message

from processor.errors import ServiceUnavailable
from processor.kafka.clients import reading_consumer
from processor.kafka.span import SCAN_TIMEOUT_S, Span, span_offsets, topic_partitions
from processor.kafka.streams import PartitionStreams
from processor.replay.engine import Delivered, Routed
from processor.settings import Settings
from processor.wire import Codec, DecodeError

MARGIN = timedelta(minutes=10)
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
    attempt: int = 1
    """Above 1: a re-offer, the lead decided again in place of a delivery given up on or
    returned. Replay routes each input record once, and does not replay re-offers."""


class Decisions:
    """The audit topic's decisions about input records in ``span``, in the order they were made.

    Within one audit partition the decide stage appends decisions in its own order, so merging the
    partitions by ``sequence`` gives the order across them, reading each forward once: memory
    holds a bounded buffer per partition, whatever the span. A decision without a sequence (a lead
    rejected before the decide stage, which changed no state) comes as it is met. A record that is
    not a RoutingDecision is skipped and reported on stderr.
    """

    def __init__(
        self, settings: Settings, codec: Codec, span: Span, deadline: float = math.inf
    ) -> None:
        self._settings = settings
        self._codec = codec
        self._span = span
        self._deadline = deadline
        self.total = 0
        """How many audit records the span holds (decisions about other topics included)."""

    def __iter__(self) -> Iterator[Past]:
        audit = self._settings.topics.audit_topic
        consumer = reading_consumer(self._settings.kafka, "replay")
        try:
            found = topic_partitions(consumer, audit, self._settings.kafka.bootstrap_servers)
            if found is None:
                return
            ranges = span_offsets(consumer, audit, found, self._span)
            self.total = sum(stop - start for start, stop in ranges.values())
            streams = PartitionStreams(consumer, audit, SCAN_TIMEOUT_S, self._deadline)
            for partition, (start, stop) in ranges.items():
                streams.add(partition, start, stop)
            heads: list[tuple[int, int, Past]] = []
            for partition in ranges:
                yield from self._advance(streams, partition, heads)
            while heads:
                _, partition, past = heapq.heappop(heads)
                yield past
                yield from self._advance(streams, partition, heads)
        finally:
            consumer.close()

    def _advance(
        self, streams: PartitionStreams, partition: int, heads: list[tuple[int, int, Past]]
    ) -> Iterator[Past]:
        """Reads ``partition`` on to its next decision with a sequence, which waits in ``heads``;
        the decisions without one met on the way are yielded at once."""
        while (message := streams.next(partition)) is not None:
            past = self._decision(message)
            if past is None:
                continue
            if past.sequence is None:
                yield past
                continue
            heapq.heappush(heads, (past.sequence, partition, past))
            return

    def _decision(self, message: Message) -> Past | None:
        audit = self._settings.topics.audit_topic
        if not self._span.holds(message.timestamp()[1]):
            return None
        try:
            record = self._codec.decode(audit, message.value() or b"", "RoutingDecision")
        except DecodeError as error:
            if error.transient:
                raise ServiceUnavailable(f"reading {audit}: {error}") from error
            where = f"{audit}[{message.partition()}]@{message.offset()}"
            print(f"lead-router: skipped {where}: {error.reason}", file=sys.stderr)
            return None
        # A re-offer is counted whatever it was read from (a return's comes from the returns topic).
        if record["source"]["topic"] != self._settings.topics.input_topic and record["attempt"] < 2:
            return None
        return _past(record)


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
        record["attempt"],
    )
