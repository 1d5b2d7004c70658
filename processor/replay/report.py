"""What a replay found: outcomes, deliveries and revenue before and after, and each change.

"Before" is what the audit topic says happened, "after" what the rules file would have done with
the same leads in the same order from the same state. A lead's decision changed when its outcome,
profile, duplicate or any delivery (partner, assignment, price, currency) differs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processor.replay.engine import Routed
from processor.wire.lead_json import format_timestamp


@dataclass
class Tally:
    """One side of the comparison, summed."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Leads per (profile or "-", outcome)."""
    deliveries: Counter[str] = field(default_factory=Counter)
    """Deliveries per partner."""
    revenue: dict[tuple[str, str], float] = field(default_factory=dict)
    """Revenue per (partner, currency)."""

    def add(self, routed: Routed) -> None:
        self.outcomes[(routed.profile or "-", routed.outcome)] += 1
        for delivery in routed.deliveries:
            self.deliveries[delivery.partner] += 1
            key = (delivery.partner, delivery.currency)
            self.revenue[key] = self.revenue.get(key, 0.0) + delivery.price


@dataclass(frozen=True)
class Change:
    """A lead whose decision would change, and why in words (the new decision explained)."""

    lead_id: str
    partition: int
    offset: int
    before: Routed
    after: Routed
    why: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "source": {"partition": self.partition, "offset": self.offset},
            "before": _routed_dict(self.before),
            "after": _routed_dict(self.after),
            "why": list(self.why),
        }


@dataclass
class Report:
    """A replay's findings."""

    rules_version: str
    since: datetime
    until: datetime | None
    started_at: datetime | None = None
    """When the first lead replayed was decided: a little before ``since`` when the span began in
    the middle of a transaction, whose earlier leads are replayed too."""
    exact: bool = True
    inexact_why: str | None = None
    profile: str | None = None
    leads: int = 0
    missing: int = 0
    """Leads decided in the span that the input topic no longer holds: not replayed."""
    reoffers: int = 0
    """Re-offers decided in the span (a lead decided again in place of a delivery given up on or
    returned): not replayed. They changed caps, so the state after them is approximate."""
    before: Tally = field(default_factory=Tally)
    after: Tally = field(default_factory=Tally)
    changed: int = 0
    """Leads whose decision would change; the first of them are in ``changes``."""
    changes: list[Change] = field(default_factory=list)

    def counts(self, before: Routed, after: Routed) -> bool:
        """Whether a lead is in the report (``--profile`` limits it to that profile's leads)."""
        return self.profile is None or self.profile in (before.profile, after.profile)

    def add(self, before: Routed, after: Routed) -> None:
        self.leads += 1
        self.before.add(before)
        self.after.add(after)

    def outcome_pairs(self) -> list[tuple[tuple[str, str], tuple[int, int]]]:
        """Leads per (profile, outcome): (before, after), in order."""
        keys = sorted(set(self.before.outcomes) | set(self.after.outcomes))
        return [(key, (self.before.outcomes[key], self.after.outcomes[key])) for key in keys]

    def as_dict(self) -> dict[str, Any]:
        """The report for programs: ``--format json``."""
        return {
            "rules_version": self.rules_version,
            "since": format_timestamp(self.since),
            "until": format_timestamp(self.until) if self.until else None,
            "started_at": format_timestamp(self.started_at) if self.started_at else None,
            "state_exact": self.exact,
            "state_note": self.inexact_why,
            "profile": self.profile,
            "leads": self.leads,
            "missing": self.missing,
            "reoffers": self.reoffers,
            "changed": self.changed,
            "outcomes": [
                {"profile": p, "outcome": o, "before": b, "after": a}
                for (p, o), (b, a) in self.outcome_pairs()
            ],
            "partners": [
                {
                    "partner": partner,
                    "deliveries_before": self.before.deliveries[partner],
                    "deliveries_after": self.after.deliveries[partner],
                    "revenue_before": _revenue(self.before, partner),
                    "revenue_after": _revenue(self.after, partner),
                }
                for partner in sorted(set(self.before.deliveries) | set(self.after.deliveries))
            ],
            "changes": [change.as_dict() for change in self.changes],
        }


def same(before: Routed, after: Routed) -> bool:
    """Whether two decisions of one lead agree in everything replay compares."""
    return (
        before.outcome == after.outcome
        and before.profile == after.profile
        and before.duplicate_of == after.duplicate_of
        and Counter(before.deliveries) == Counter(after.deliveries)
    )


def described(routed: Routed) -> str:
    """A decision in a few words: ``routed to crm-east (svc-ca) at 40.00 USD``."""
    if routed.outcome == "rejected":
        return f"rejected ({routed.error})" if routed.error else "rejected"
    if routed.outcome == "duplicate":
        return f"duplicate of {routed.duplicate_of}"
    if not routed.deliveries:
        where = f" in profile {routed.profile}" if routed.profile else ", no profile"
        return f"{routed.outcome}{where}"
    to = ", ".join(
        f"{d.partner}{f' ({d.assignment})' if d.assignment else ''} at {d.price:.2f} {d.currency}"
        for d in routed.deliveries
    )
    return f"{routed.outcome} to {to}"


def _routed_dict(routed: Routed) -> dict[str, Any]:
    return {
        "outcome": routed.outcome,
        "profile": routed.profile,
        "duplicate_of": routed.duplicate_of,
        "deliveries": [
            {
                "partner": d.partner,
                "assignment": d.assignment,
                "price": d.price,
                "currency": d.currency,
            }
            for d in routed.deliveries
        ],
        "error": routed.error,
    }


def _revenue(tally: Tally, partner: str) -> dict[str, float]:
    return {
        currency: round(amount, 6)
        for (who, currency), amount in sorted(tally.revenue.items())
        if who == partner
    }
