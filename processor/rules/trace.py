"""The trace: why a lead went where it went, in the order the decision was made.

Routing records only what it already has in hand (a :class:`Route`: the profile, each tier it
tried with its candidates, the nearest-store step, the strategy's inputs), and only when a trace
is wanted. The entries are built from it when first read, by explaining each assignment of the
tiers tried with the reference evaluator: which OR-set held, or for each OR-set the first condition
that failed and the lead's value there. Tiers can hold thousands of assignments, so the assignments
that did not match are explained up to a limit per tier and counted beyond it; matches and
candidates are always listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from processor.rules.conditions import failure
from processor.rules.fields import LeadView
from processor.rules.reference import explain
from processor.rules.snapshot import CompiledAssignment, CompiledProfile, ProfileReason, Tier

DEFAULT_MAX_FAILURES = 20
"""Non-matching assignments explained per tier by default; the rest are counted."""

Entry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Nearest:
    """The nearest-store step: the partner kept and its distance, or why nothing changed."""

    partner: str | None
    distance_km: float | None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One tier tried: ``kind``/``category`` name it even when the profile has no such tier."""

    kind: str
    category: str | None
    tier: Tier | None
    candidates: Sequence[CompiledAssignment]
    """Matching assignments with active partners, before the nearest-store step."""
    kept: Sequence[CompiledAssignment]
    """The candidates left after the nearest-store step (all of them when it did not run)."""
    nearest: Nearest | None = None


@dataclass(slots=True)
class Route:
    """What routing saw and did, kept for the trace."""

    site_id: object
    notes: Sequence[str]
    profile: CompiledProfile | None = None
    reason: ProfileReason | None = None
    view: LeadView | None = None
    attempts: list[Attempt] = field(default_factory=list)
    strategy: Entry | None = None
    ending: Entry | None = None


def build(route: Route, max_failures: int | None) -> list[Entry]:
    """The trace entries; ``max_failures`` None explains every non-matching assignment."""
    entries: list[Entry] = []
    if route.notes:
        entries.append({"step": "geo", "notes": list(route.notes)})
    entries.append(_profile_entry(route))
    for attempt in route.attempts:
        entries.extend(_tier_entries(attempt, route.view, max_failures))
    if route.strategy is not None:
        entries.append(route.strategy)
    if route.ending is not None:
        entries.append(route.ending)
    return entries


def _profile_entry(route: Route) -> Entry:
    site = route.site_id
    if route.profile is None:
        why = f"no profile has site_id {site!r} among its sources, and there is no default profile"
    elif route.reason == "source":
        why = f"site_id {site!r} is one of its sources"
    else:
        why = f"no profile has site_id {site!r} among its sources; this is the default profile"
    return {"step": "profile", "profile": route.profile.id if route.profile else None, "why": why}


def _tier_entries(attempt: Attempt, view: LeadView | None, max_failures: int | None) -> list[Entry]:
    tier = attempt.tier
    entries: list[Entry] = [
        {
            "step": "tier",
            "tier": attempt.kind,
            "category": attempt.category,
            "assignments": len(tier.assignments) if tier else 0,
            "candidates": [item.id for item in attempt.candidates],
        }
    ]
    if tier is None or view is None:
        return entries
    candidates = {id(item) for item in attempt.candidates}
    budget, unlisted = max_failures, len(candidates)
    explained = 0
    for item in tier.assignments:
        if not unlisted and budget == 0:
            break  # every candidate listed and the failure budget spent: the rest are counted
        if id(item) in candidates:
            entries.append(_assignment_entry(item, view))
            unlisted -= 1
        elif budget is None or budget > 0:
            entries.append(_assignment_entry(item, view))
            explained += 1
            budget = None if budget is None else budget - 1
    hidden = len(tier.assignments) - len(candidates) - explained
    if hidden:
        entries.append(
            {
                "step": "not_shown",
                "tier": attempt.kind,
                "assignments": hidden,
                "why": "did not match; raise the trace limit to see why",
            }
        )
    if attempt.nearest is not None:
        entries.append(_nearest_entry(attempt))
    return entries


def _assignment_entry(item: CompiledAssignment, view: LeadView) -> Entry:
    entry: Entry = {"step": "assignment", "assignment": item.id, "partner": item.partner.id}
    if not item.partner.active:
        entry.update(matched=False, why=f"partner {item.partner.id!r} is inactive")
        return entry
    explanation = explain(item, view)
    entry["matched"] = explanation.matched
    if explanation.matched:
        entry["or_set"] = explanation.or_set
    else:
        entry["failed"] = [
            {"or_set": position, **failure(check, view)} for position, check in explanation.failures
        ]
    return entry


def _nearest_entry(attempt: Attempt) -> Entry:
    nearest = attempt.nearest
    assert nearest is not None
    entry: Entry = {"step": "nearest_store", "tier": attempt.kind, "partner": nearest.partner}
    if nearest.distance_km is not None:
        entry["distance_km"] = nearest.distance_km
    entry["kept"] = [item.id for item in attempt.kept]
    if nearest.why is not None:
        entry["why"] = nearest.why
    return entry
