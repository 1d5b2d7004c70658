"""What a decision shows of caps and exclusions in the metrics, counted once it commits.

A decision's excluded candidates count in ``lead_router_candidates_excluded_total``, each partner
and reason once per lead (a partner of several matching assignments, or a tier looked at twice, is
one exclusion of one lead). The caps of each partner and assignment it delivered to are set in
``lead_router_cap_used`` and ``lead_router_cap_limit``, with their use in the lead's window after
the decision (revenue in currency units). Use is what the decision counted, and is set when the
transaction carrying the decision commits, so an aborted decision shows nothing. A gauge keeps the
value of the last lead delivered under its cap: it does not fall back to 0 when the window resets,
until the next delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from processor import metrics
from processor.rules import Decision
from processor.rules.caps import CompiledCap


@dataclass(frozen=True, slots=True)
class CapGauge:
    """One cap's use after a decision, and its limit, in leads or currency units."""

    scope: str
    per: str
    unit: str
    used: float
    limit: float


@dataclass(frozen=True, slots=True)
class DecisionMetrics:
    """One decision's exclusions and the use of the caps it counted against."""

    profile: str
    exclusions: tuple[tuple[str, str], ...]
    caps: tuple[CapGauge, ...]

    def count(self) -> None:
        for partner, reason in self.exclusions:
            metrics.CANDIDATES_EXCLUDED.labels(
                profile=self.profile, partner=partner, reason=reason
            ).inc()
        for cap in self.caps:
            labels = {"scope": cap.scope, "per": cap.per, "unit": cap.unit}
            metrics.CAP_USED.labels(**labels).set(cap.used)
            metrics.CAP_LIMIT.labels(**labels).set(cap.limit)


def decision_metrics(decision: Decision) -> DecisionMetrics:
    """The metrics of ``decision``: the use, after it, of each cap it counted against, as it
    counted them (no second read of the ledger)."""
    return DecisionMetrics(
        decision.profile or "",
        tuple(dict.fromkeys(decision.exclusions)),
        tuple(_gauge(compiled, used) for compiled, used in decision.counted),
    )


def _gauge(compiled: CompiledCap, used: int) -> CapGauge:
    shown, limit = compiled.in_units(used)
    return CapGauge(compiled.scope, compiled.cap.per, compiled.cap.unit, shown, limit)
