"""What a stage did with one record, counted in the metrics once its transaction has committed.

A stage turns one consumed record into the records to produce for it and a ``Result``; the loop
produces the records and counts the result only when the transaction carrying them has committed,
so that an aborted and re-processed batch is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass

from processor import metrics
from processor.kafka.records import OutputRecord
from processor.rules import Delivery, Outcome, TierName
from processor.stream.caps_metrics import DecisionMetrics
from processor.stream.settle import Settlement


@dataclass(slots=True)
class Result:
    """What happened to one consumed record.

    ``outcome`` is None for a lead the match stage handed on: the decide stage decides it, and
    counts it then.
    """

    outcome: Outcome | None
    profile: str | None
    records: list[OutputRecord]
    tier: TierName | None = None
    deliveries: tuple[Delivery, ...] = ()
    """The decision's deliveries, as routing chose them."""
    submitted_at: float | None = None
    processing_s: float = 0.0
    dead_letter_reason: str | None = None
    caps: DecisionMetrics | None = None
    """The decision's exclusions and the use of the caps it counted against."""
    settlements: tuple[Settlement, ...] = ()
    """Deliveries re-offered, and returns credited or refused."""

    def count(self, committed_at: float) -> None:
        if self.dead_letter_reason is not None:
            metrics.DEAD_LETTERED_FOR(self.dead_letter_reason).inc()
        for settlement in self.settlements:
            settlement.count()
        if self.outcome is None:
            return
        profile = self.profile or ""
        metrics.OUTCOME_OF(self.outcome, profile).inc()
        tier = self.tier or ""
        for delivery in self.deliveries:
            partner = delivery.partner
            metrics.DELIVERED_TO(profile, partner, tier).inc()
            metrics.REVENUE_OF(partner, delivery.currency).inc(delivery.price)
        metrics.PROCESSING_SECONDS.observe(self.processing_s)
        if self.submitted_at is not None:
            metrics.END_TO_END_SECONDS.observe(max(0.0, committed_at - self.submitted_at))
        if self.caps is not None:
            self.caps.count()
