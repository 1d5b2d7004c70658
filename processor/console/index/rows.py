"""A topic's record as the index's rows: bounded, and never raising on what anyone could write.

The audit, receipts and dead-letter topics are written by lead-router, but a topic is open to
whoever may write it: a record here is decoded and checked, and what is kept of it is capped, so
that no record can fill the database or break a page that shows it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from processor.console.index.schema import DAY_MS
from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    OFFSET_HEADER,
    SOURCE_HEADERS,
)

TEXT_CHARS = 1_000
"""The most kept of an id, a name or a reason."""
DETAIL_CHARS = 4_000
"""The most kept of free text: a decision's error, a receipt's detail."""
TRACE_BYTES = 256 * 1024
"""The largest trace kept. The processor bounds its traces far below this; a larger one was not
written by it, and is replaced by a note saying so."""
DELIVERIES = 100
"""The most deliveries kept of one decision; the processor sells a lead to a few partners."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)

TableName = Literal["decisions", "receipts", "dead_letters"]


class Unusable(ValueError):
    """A record that decoded but cannot be indexed (a time beyond the calendar, a non-object
    geo); ``str()`` says why without its content."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a record was read: the key of its rows, unique per table."""

    topic: str
    partition: int
    offset: int

    def columns(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class Rows:
    """What one record adds to the index: a row of ``table``, and a decision's deliveries."""

    table: TableName
    row: dict[str, Any]
    deliveries: tuple[dict[str, Any], ...] = field(default=())


def decision_rows(decision: Mapping[str, Any], place: Place) -> Rows:
    """A decoded ``RoutingDecision``'s row and its deliveries' rows (which get ``decision_id``
    when the decision's row has its id)."""
    decided_at = _ms(decision["decided_at"])
    source = decision["source"]
    row = {
        "lead_id": _text(decision["lead_id"]),
        "attempt": int(decision.get("attempt") or 1),
        "outcome": _text(decision["outcome"]),
        "profile": _text(decision.get("profile")),
        "tier": _text(decision.get("tier")),
        "site_id": _text(decision.get("site_id")),
        "duplicate_of": _text(decision.get("duplicate_of")),
        "error": _text(decision.get("error"), DETAIL_CHARS),
        "rules_version": _text(decision.get("rules_version")),
        "decided_at": decided_at,
        "day": decided_at // DAY_MS,
        "sequence": decision.get("sequence"),
        "source_topic": _text(source["topic"]),
        "source_partition": source["partition"],
        "source_offset": source["offset"],
        "reoffer_of": _text(decision.get("reoffer_of")),
        "geo": _geo(decision.get("geo")),
        "trace": bounded_trace(decision["trace"]),
        **place.columns(),
    }
    deliveries = tuple(
        {
            "delivery_id": _text(delivery["delivery_id"]),
            "partner": _text(delivery["partner"]),
            "assignment": _text(delivery.get("assignment")),
            "price": _number(delivery.get("price")),
            "currency": _text(delivery.get("currency")),
            "distance_km": _number(delivery.get("distance_km")),
            "decided_at": decided_at,
            "day": decided_at // DAY_MS,
        }
        for delivery in decision["deliveries"][:DELIVERIES]
    )
    return Rows("decisions", row, deliveries)


def receipt_rows(receipt: Mapping[str, Any], place: Place) -> Rows:
    """A decoded ``DeliveryReceipt``'s row."""
    at = _ms(receipt["at"])
    next_attempt = receipt.get("next_attempt_at")
    attempts = receipt.get("attempts")
    row = {
        "delivery_id": _text(receipt["delivery_id"]),
        "lead_id": _text(receipt["lead_id"]),
        "partner": _text(receipt["partner"]),
        "status": _text(receipt["status"]),
        "at": at,
        "day": at // DAY_MS,
        "detail": _text(receipt.get("detail"), DETAIL_CHARS),
        "price": _number(receipt.get("price")),
        "currency": _text(receipt.get("currency")),
        "attempts": None if attempts is None else int(attempts),
        "next_attempt_at": None if next_attempt is None else _ms(next_attempt),
        "revenue": _number(receipt.get("revenue")),
        "reason": _text(receipt.get("reason"), DETAIL_CHARS),
        **place.columns(),
    }
    return Rows("receipts", row)


def dead_letter_rows(
    headers: Mapping[str, str | bytes | None], timestamp: int, place: Place
) -> Rows:
    """A dead letter's row, from the error headers the processor added; the record's key and
    value (the lead) are not kept."""
    at = max(timestamp, 0)
    partition = _header(headers, SOURCE_HEADERS[1])
    offset = _header(headers, OFFSET_HEADER)
    row = {
        "reason": _header(headers, ERROR_HEADER) or "unknown (no reason header)",
        "exception": _header(headers, EXCEPTION_HEADER),
        "source_topic": _header(headers, SOURCE_HEADERS[0]),
        "source_partition": _integer(partition, 2**31 - 1),
        "source_offset": _integer(offset, 2**63 - 1),
        "at": at,
        "day": at // DAY_MS,
        **place.columns(),
    }
    return Rows("dead_letters", row)


def bounded_trace(trace: str) -> str:
    """The trace as it came when it is a JSON array no larger than ``TRACE_BYTES``; else a JSON
    array with one note saying why it is not kept, so every stored trace parses as an array."""
    size = len(trace.encode("utf-8", "replace"))
    if size > TRACE_BYTES:
        return _note(f"trace not kept: {size:,} bytes, more than the {TRACE_BYTES:,} kept")
    try:
        parsed = json.loads(trace)
    except (ValueError, RecursionError):
        return _note("trace not kept: not JSON")
    if not isinstance(parsed, list):
        return _note("trace not kept: not a JSON array")
    return trace


def _note(text: str) -> str:
    return json.dumps([{"note": text}])


def _ms(moment: Any) -> int:
    if isinstance(moment, datetime):
        return (moment - EPOCH) // MS
    if isinstance(moment, int) and not isinstance(moment, bool):
        return moment
    raise Unusable(f"a time that is not one ({type(moment).__name__})")


def _text(value: Any, limit: int = TEXT_CHARS) -> Any:
    """``value`` as text cut to ``limit`` characters; None stays None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _number(value: Any) -> float | None:
    """A finite number, or None: NaN and infinities are no price anyone pays."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _geo(geo: Any) -> str | None:
    if geo is None:
        return None
    if not isinstance(geo, Mapping):
        raise Unusable("a geo that is not a record")
    cleaned = {
        str(name)[:TEXT_CHARS]: _number(value) if isinstance(value, int | float) else _text(value)
        for name, value in geo.items()
    }
    return json.dumps(cleaned, allow_nan=False)


def _header(headers: Mapping[str, str | bytes | None], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text[:TEXT_CHARS]


def _integer(text: str | None, largest: int) -> int | None:
    """A header's decimal integer within the column's range, or None."""
    if text is None or not text.strip().lstrip("-").isdigit() or len(text) > 20:
        return None
    number = int(text)
    return number if -largest <= number <= largest else None
