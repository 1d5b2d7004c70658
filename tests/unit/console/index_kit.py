"""Records for the index's unit tests, and a source that serves them as a consumer would.

The source is no stand-in for Kafka in an integration test (those use the real broker): it lets
unit tests crash an indexer at any point of a batch and start another, which a broker cannot do
quickly or precisely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from processor.console.index.schema import DAY_MS
from processor.console.index.source import Position, Record
from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    OFFSET_HEADER,
    SOURCE_HEADERS,
    ConsumedRecord,
    Headers,
)
from processor.settings import Settings
from processor.wire import Codec

SETTINGS = Settings(audit_topic="audit", receipts_topic="receipts", dlq_topic="dlq")
AUDIT = SETTINGS.topics.audit_topic
RECEIPTS = SETTINGS.topics.receipts_topic
CODEC = Codec()
T0 = 20_000 * DAY_MS  # 2024-10-04, midnight UTC


class Message(ConsumedRecord):
    """A consumed record, read as the indexer reads a confluent-kafka ``Message``: no error."""

    __slots__ = ()

    def error(self) -> None:
        return None


def message(
    topic: str, partition: int, offset: int, value: bytes | None, headers: Headers, at: int
) -> Message:
    """A record without a key, created at ``at`` (epoch ms)."""
    return Message(topic, partition, offset, None, value, headers, (1, at))


class Source:
    """Serves the records it was given from the offsets assigned, a few partitions at a time;
    a partition's offsets may have gaps (transaction markers)."""

    def __init__(self, records: Sequence[Message]) -> None:
        self.logs: dict[Position, list[Message]] = {}
        for record in records:
            self.logs.setdefault((record.topic(), record.partition()), []).append(record)
        self.hidden: set[str] = set()
        """Topics that do not exist yet."""
        self.positions: dict[Position, int] = {}
        self.markers: dict[Position, int] = {}
        """Per partition, the offset after the commit marker that follows its last record."""

    def partitions(self, topic: str) -> list[int]:
        if topic in self.hidden:
            return []
        return sorted(p for t, p in self.logs if t == topic)

    def assign(self, offsets: Mapping[Position, int]) -> None:
        self.positions = dict(offsets)

    def consume(self, count: int, timeout: float) -> Sequence[Record]:
        taken: list[Record] = []
        for position, start in self.positions.items():
            waiting = [r for r in self.logs.get(position, []) if r.offset() >= start]
            for record in waiting[: count - len(taken)]:
                taken.append(record)
                self.positions[position] = record.offset() + 1
        return taken

    def read_to(self) -> Mapping[Position, int]:
        """Past a partition's closing marker once its last record was read, as a read_committed
        consumer stands."""
        return {
            position: self.markers.get(position, offset)
            if self.logs.get(position) and offset > self.logs[position][-1].offset()
            else offset
            for position, offset in self.positions.items()
        }

    def close(self) -> None:
        pass


def decision(
    lead_id: str,
    at: int,
    *,
    partners: Sequence[str] = ("crm-east",),
    outcome: str = "routed",
    profile: str | None = "acme",
    price: float = 25.0,
    **fields: Any,
) -> dict[str, Any]:
    """A ``RoutingDecision`` as the processor writes it."""
    return {
        "lead_id": lead_id,
        "site_id": "acme-site",
        "outcome": outcome,
        "profile": profile,
        "tier": "all" if partners else None,
        "deliveries": [
            {
                "delivery_id": f"{lead_id}-{n}",
                "partner": partner,
                "assignment": f"a-{partner}",
                "price": price,
                "currency": "USD",
                "distance_km": None,
            }
            for n, partner in enumerate(partners)
        ],
        "geo": {"lat": 40.7, "lon": -74.0, "country": "US", "source": "coords"},
        "trace": '[{"assignment": "a"}]',
        "rules_version": "3",
        "source": {"topic": "leads", "partition": 0, "offset": 7},
        "decided_at": datetime.fromtimestamp(at / 1000, UTC),
        "sequence": 11,
        "attempt": 1,
    } | fields


def receipt(
    delivery_id: str, lead_id: str, partner: str, status: str, at: int, revenue: float | None
) -> dict[str, Any]:
    """A ``DeliveryReceipt`` as a delivery worker writes it."""
    return {
        "delivery_id": delivery_id,
        "lead_id": lead_id,
        "partner": partner,
        "status": status,
        "at": datetime.fromtimestamp(at / 1000, UTC),
        "detail": "https://crm.example/hook: HTTP 200",
        "price": 25.0,
        "currency": "USD",
        "attempts": 1,
        "revenue": revenue,
    }


def on(topic: str, offset: int, record: dict[str, Any], partition: int = 0) -> Message:
    """``record`` encoded for ``topic`` (audit: a decision; receipts: a receipt)."""
    schema = "RoutingDecision" if topic == AUDIT else "DeliveryReceipt"
    value = CODEC.encode(topic, schema, record)
    return message(topic, partition, offset, value, [], T0)


def dead_letter(offset: int, reason: str, at: int = T0, partition: int = 0) -> Message:
    """A dead letter as the processor writes it: the lead's bytes and its error headers."""
    headers: Headers = [
        ("trace-id", b"abc"),
        (ERROR_HEADER, reason.encode()),
        (EXCEPTION_HEADER, b"processor.wire.errors.DecodeError"),
        (SOURCE_HEADERS[0], b"leads"),
        (SOURCE_HEADERS[1], b"2"),
        (OFFSET_HEADER, b"41"),
    ]
    return message(SETTINGS.topics.dlq_topic, partition, offset, b"jane@example.com", headers, at)
