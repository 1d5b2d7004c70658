"""What a decision shows of caps and exclusions in the metrics, counted once it commits.

A decision's excluded candidates count in ``lead_router_candidates_excluded_total``, each partner
and reason once per lead (a partner of several matching assignments, or a tier looked at twice, is
one exclusion of one lead). The caps of each partner and assignment it delivered to are set in
``lead_router_cap_used`` and ``lead_router_cap_limit``, with their use in the lead's window after
the decision (revenue in currency units). Use is read when the lead is decided, from the ledger
that decided it, and set when the transaction carrying the decision commits, so an aborted
decision shows nothing. A gauge keeps the value of the last lead delivered under its cap: it does
not fall back to 0 when the window resets, until the next delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from processor import metrics
from processor.rules import Decision, Ledger
from processor.rules.caps import Windows
from processor.rules.decide import EPOCH
from processor.state.report import CapUse, cap_use


@dataclass(frozen=True, slots=True)
class DecisionMetrics:
    """One decision's exclusions and the use of the caps it counted against."""

    profile: str
    exclusions: tuple[tuple[str, str], ...]
    caps: tuple[CapUse, ...]

    def count(self) -> None:
        for partner, reason in self.exclusions:
            metrics.CANDIDATES_EXCLUDED.labels(
                profile=self.profile, partner=partner, reason=reason
            ).inc()
        for cap in self.caps:
            labels = {"scope": cap.scope, "per": cap.per, "unit": cap.unit}
            metrics.CAP_USED.labels(**labels).set(cap.used)
            metrics.CAP_LIMIT.labels(**labels).set(cap.limit)


def decision_metrics(ledger: Ledger, decision: Decision, when: datetime | None) -> DecisionMetrics:
    """The metrics of ``decision``, made with ``ledger`` for a lead of ``when`` (None: a lead
    without a time, decided as of the epoch): the use, after it, of each cap it counted against."""
    windows = Windows(when or EPOCH)
    return DecisionMetrics(
        decision.profile or "",
        tuple(dict.fromkeys(decision.exclusions)),
        tuple(cap_use(cap, (ledger,), windows) for cap in decision.counted),
    )
