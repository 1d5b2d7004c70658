"""What the decide stage writes and counts when it settles a delivery: returns' receipts, and the
metrics of re-offers and returns.

A return is credited or refused in the decide stage, which owns the caps its credit gives back;
the partner learns which from a ``DeliveryReceipt`` on the receipts topic, keyed by the delivery
id like a worker's receipts (a refusal under a key of its own, so that it never replaces the
delivery's latest receipt), written in the same transaction as the state that settled it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from processor import metrics
from processor.delivery.receipts import receipt_key
from processor.kafka.records import OutputRecord
from processor.rules.ledger import Sold
from processor.settings import Settings
from processor.wire import Codec


@dataclass(frozen=True, slots=True)
class Settlement:
    """One delivery settled, counted in the metrics once its transaction commits."""

    partner: str
    result: Literal["reoffered", "credited", "refused"]
    currency: str = ""
    credit: float = 0.0

    def count(self) -> None:
        if self.result == "reoffered":
            metrics.REOFFERS.labels(partner=self.partner).inc()
            return
        metrics.RETURNS.labels(partner=self.partner, result=self.result).inc()
        if self.result == "credited":
            metrics.CREDITED_REVENUE.labels(partner=self.partner, currency=self.currency).inc(
                self.credit
            )


class Receipts:
    """Writes the receipts of returns, credited or refused."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._encoder = codec.encoder("DeliveryReceipt", settings.topics.receipts_topic)

    def credited(
        self, sold: Sold, reason: str, by: str | None, now: datetime
    ) -> tuple[OutputRecord, Settlement]:
        """The ``returned`` receipt: the price given back as negative revenue."""
        receipt = _receipt(sold.delivery_id, sold, "returned", now, reason, by)
        receipt["revenue"] = -sold.price
        settled = Settlement(sold.partner, "credited", sold.currency, sold.price)
        return self._record(receipt), settled

    def refused(
        self,
        delivery_id: str,
        sold: Sold | None,
        why: str,
        reason: str,
        by: str | None,
        now: datetime,
    ) -> tuple[OutputRecord, Settlement]:
        """The ``return_refused`` receipt: ``why`` is its reason, the partner's reason its
        detail. A delivery the decide stage does not know names no lead or partner."""
        receipt = _receipt(delivery_id, sold, "return_refused", now, why, by)
        receipt["detail"] = f"{receipt['detail']}: {reason}"
        return self._record(receipt), Settlement(sold.partner if sold else "", "refused")

    def _record(self, receipt: dict[str, Any]) -> OutputRecord:
        (value,) = self._encoder.encode(receipt)
        return OutputRecord(self._encoder.topics[0], receipt_key(receipt), value)


def _receipt(
    delivery_id: str, sold: Sold | None, status: str, now: datetime, reason: str, by: str | None
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "lead_id": sold.lead_id if sold else "",
        "partner": sold.partner if sold else "",
        "status": status,
        "at": now,
        "detail": "returned" + (f" by {by}" if by else ""),
        "price": sold.price if sold else None,
        "currency": sold.currency if sold else None,
        "attempts": None,
        "next_attempt_at": None,
        "revenue": None,
        "reason": reason,
    }
