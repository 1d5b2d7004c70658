"""The trace: why a lead went where it went, in the order the decision was made.

Routing records only what it already has in hand (a :class:`Route`: the profile, each tier it
tried with its candidates, the nearest-store step, the strategy's inputs), and only when a trace
is wanted. The entries are built from it when first read, by explaining each assignment of the
tiers tried with the reference evaluator: which OR-set held, or for each OR-set the first condition
that failed and the lead's value there. Tiers can hold thousands of assignments, so the assignments
that did not match are explained up to a limit per tier and counted beyond it; matches and
candidates are always listed.

Whatever the rules hold, a trace is bounded: condition values and lead values are summarised (see
:func:`processor.rules.conditions.shown`), and the encoded trace is cut at a number of bytes, its
last entry saying how many entries were left out. Without the bound, two ``in_list`` conditions of
65,000 postcodes made a 45-byte lead's audit record 1,056,797 bytes, more than the producer sends:
a valid lead dead-lettered because of its explanation.

Explaining why an assignment did not match was two thirds of the processor's CPU per lead, so the
audit record's trace holds what the decision did (profile, tiers, candidates, exclusions and why,
nearest store, strategy) and counts the assignments that did not match; :func:`expand` explains
them later, when someone asks (``lead-router audit show``), from the rules version and the lead:
an assignment's filter is a pure function of the two, so the words come out as they would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processor.geometry.geo import Geo, GeoSource
from processor.jsontext import dumps
from processor.rules.conditions import failure, shown
from processor.rules.fields import LeadView
from processor.rules.reference import explain
from processor.rules.snapshot import (
    CompiledAssignment,
    CompiledProfile,
    ProfileReason,
    Snapshot,
    Tier,
)

DEFAULT_MAX_FAILURES = 20
"""Non-matching assignments explained per tier by default; the rest are counted."""

TRACE_MAX_BYTES = 65_536
"""The most an encoded trace weighs by default, its closing ``cut`` entry included."""

CUT_ENTRY_BYTES = 128
"""Room kept for the closing ``cut`` entry: its encoding is about 90 bytes."""

Entry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Nearest:
    """The nearest-store step: the partner kept, its distance and the geolocation source that
    measured it, or why nothing changed."""

    partner: str | None
    distance_km: float | None
    why: str | None = None
    source: GeoSource | None = None


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
    closed: Sequence[CompiledAssignment] = ()
    """Matching assignments with active partners that are closed at the lead's time."""
    passed: Sequence[tuple[CompiledAssignment, str]] = ()
    """Open matching assignments passed over for state, with why: a cap, a duplicate."""


@dataclass(slots=True)
class Route:
    """What routing saw and did, kept for the trace."""

    site_id: object
    notes: Sequence[str]
    when: datetime | None
    """The lead's time, which schedules are judged at."""
    profile: CompiledProfile | None = None
    reason: ProfileReason | None = None
    view: LeadView | None = None
    attempts: list[Attempt] = field(default_factory=list)
    strategy: Entry | None = None
    ending: Entry | None = None
    redrive: str | None = None
    """Why a redriven lead's earlier decision did not make it a duplicate."""
    reoffer: Entry | None = None
    """Why the lead is decided again (a delivery given up on or returned): the trace opens
    with it."""


def build(route: Route, max_failures: int | None, max_bytes: int | None) -> list[Entry]:
    """The trace entries, encoded in at most ``max_bytes`` bytes; ``max_failures`` None explains
    every non-matching assignment, ``max_bytes`` None keeps every entry."""
    entries = _entries(route, max_failures)
    return entries if max_bytes is None else fit(entries, max_bytes)[0]


def build_json(route: Route, max_failures: int | None, max_bytes: int) -> str:
    """The trace as the audit record carries it: JSON text of at most ``max_bytes`` bytes,
    encoded once when it fits (as nearly every trace does)."""
    return fit(_entries(route, max_failures), max_bytes)[1]


def expand(
    entries: Sequence[Any],
    snapshot: Snapshot,
    lead: Mapping[str, Any],
    geo: Geo | None,
    max_failures: int | None,
) -> list[Entry]:
    """``entries``, a stored trace of ``lead`` decided under ``snapshot``, with the assignments
    each ``not_shown`` counts explained, up to ``max_failures`` per tier (None: all), in document
    order among the assignments the trace lists: the trace that deciding with ``max_failures``
    would have written.

    The stored trace crosses a topic, so nothing in it is trusted: a tier that does not name one
    of ``snapshot``'s is left as it is.
    """
    view = snapshot.read(lead, geo)
    profile: CompiledProfile | None = None
    tier: Tier | None = None
    listed: dict[str, Entry] = {}
    out: list[Entry] = []
    for entry in entries:
        step = entry.get("step") if isinstance(entry, dict) else None
        if tier is not None:
            if step == "assignment" and isinstance(entry.get("assignment"), str):
                listed[entry.get("assignment")] = entry
                continue
            if step == "not_shown":
                out.extend(_in_order(tier, listed, view, max_failures, entry))
                tier = None
                continue
            out.extend(listed.values())  # nothing was counted: the tier is whole already
            tier = None
        if step == "profile":
            profile = next((p for p in snapshot.profiles if p.id == entry.get("profile")), None)
        elif step == "tier":
            tier, listed = _tier_named(profile, entry.get("tier"), lead), {}
        out.append(entry)
    if tier is not None:
        out.extend(listed.values())
    return out


def _in_order(
    tier: Tier,
    listed: dict[str, Entry],
    view: LeadView,
    max_failures: int | None,
    counted: Entry,
) -> list[Entry]:
    """The tier's assignment entries as :func:`_tier_entries` makes them: those ``listed``
    (kept as stored) and up to ``max_failures`` of the rest explained, in document order, then
    ``counted`` with the number still left."""
    entries: list[Entry] = []
    budget, unlisted, explained = max_failures, len(listed), 0
    found = len(listed)
    for item in tier.assignments:
        if not unlisted and budget == 0:
            break
        if item.id in listed:
            entries.append(listed.pop(item.id))
            unlisted -= 1
        elif budget is None or budget > 0:
            entries.append(_assignment_entry(item, view))
            explained += 1
            budget = None if budget is None else budget - 1
    found -= len(listed)
    entries.extend(listed.values())  # named in the trace, not in the tier: kept, not judged
    left = len(tier.assignments) - found - explained
    if left > 0:
        entries.append({**counted, "assignments": left})
    return entries


def _tier_named(
    profile: CompiledProfile | None, kind: object, lead: Mapping[str, Any]
) -> Tier | None:
    """The tier of ``profile`` that a ``tier`` entry of kind ``kind`` tried for ``lead``."""
    if profile is None:
        return None
    category, everywhere = profile.tiers(lead.get("interest_category"))
    return {"category": category, "all": everywhere}.get(str(kind))


def _entries(route: Route, max_failures: int | None) -> list[Entry]:
    entries: list[Entry] = [] if route.reoffer is None else [route.reoffer]
    if route.notes:
        entries.append({"step": "geo", "notes": list(route.notes)})
    if route.redrive is not None:
        entries.append({"step": "redrive", "why": route.redrive})
    entries.append(_profile_entry(route))
    for attempt in route.attempts:
        entries.extend(_tier_entries(attempt, route.view, route.when, max_failures))
    if route.strategy is not None:
        entries.append(route.strategy)
    if route.ending is not None:
        entries.append(route.ending)
    return entries


def fit(entries: list[Entry], max_bytes: int) -> tuple[list[Entry], str]:
    """The entries and their JSON text when it fits in ``max_bytes``; else those that fit, in
    order, and a ``cut`` entry counting the rest: a trace explains a decision, it never costs a
    lead its audit record."""
    text = dumps(entries)
    if len(text.encode()) <= max_bytes:
        return entries, text
    sizes = [len(dumps(entry).encode()) + 1 for entry in entries]  # 1: the comma
    size, kept = 2 + CUT_ENTRY_BYTES, 0  # 2: the list's brackets
    while size + sizes[kept] <= max_bytes:
        size += sizes[kept]
        kept += 1
    why = f"the trace is cut at {max_bytes} bytes"
    cut = [*entries[:kept], {"step": "cut", "entries": len(entries) - kept, "why": why}]
    return cut, dumps(cut)


def _profile_entry(route: Route) -> Entry:
    site = shown(route.site_id)
    if route.profile is None:
        why = f"no profile has site_id {site!r} among its sources, and there is no default profile"
    elif route.reason == "source":
        why = f"site_id {site!r} is one of its sources"
    else:
        why = f"no profile has site_id {site!r} among its sources; this is the default profile"
    return {"step": "profile", "profile": route.profile.id if route.profile else None, "why": why}


def _tier_entries(
    attempt: Attempt, view: LeadView | None, when: datetime | None, max_failures: int | None
) -> list[Entry]:
    tier = attempt.tier
    head: Entry = {
        "step": "tier",
        "tier": attempt.kind,
        "category": shown(attempt.category),
        "assignments": len(tier.assignments) if tier else 0,
        "candidates": [item.id for item in attempt.candidates],
    }
    if attempt.closed:
        head["closed"] = [item.id for item in attempt.closed]
    if attempt.passed:
        head["excluded"] = [item.id for item, _ in attempt.passed]
    entries = [head]
    if tier is None or view is None:
        return entries
    listed, excluded = _listed(attempt, when)
    if max_failures == 0:
        # Only the listed to explain (as the audit record has it): they are all there is to look
        # at, in document order, rather than a tier of thousands to look through.
        entries.extend(_listed_entry(item, view, excluded) for item in listed)
        explained = 0
    else:
        explained = _explain_tier(entries, tier, listed, excluded, view, max_failures)
    hidden = len(tier.assignments) - len(listed) - explained
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


def _listed(
    attempt: Attempt, when: datetime | None
) -> tuple[Sequence[CompiledAssignment], dict[int, str]]:
    """The assignments a tier's trace always lists (candidates, closed, passed over), each once
    in document order, and by ``id`` the reason each one that is no candidate was left out. Most
    tiers have candidates alone, already in document order and each once: they come back as
    they are."""
    if not attempt.closed and not attempt.passed:
        return attempt.candidates, {}
    excluded = {id(item): why for item, why in attempt.passed}
    for item in attempt.closed:
        if item.hours is not None:
            excluded[id(item)] = item.hours.why_closed(when)
    named = (*attempt.candidates, *attempt.closed, *(item for item, _ in attempt.passed))
    unique = {id(item): item for item in named}
    return sorted(unique.values(), key=lambda item: item.position), excluded


def _listed_entry(item: CompiledAssignment, view: LeadView, excluded: dict[int, str]) -> Entry:
    entry = _assignment_entry(item, view)
    why = excluded.get(id(item))
    if why is not None:
        entry["excluded"] = why
    return entry


def _explain_tier(
    entries: list[Entry],
    tier: Tier,
    listed: Sequence[CompiledAssignment],
    excluded: dict[int, str],
    view: LeadView,
    max_failures: int | None,
) -> int:
    """Appends the tier's assignment entries in document order: the ``listed`` and up to
    ``max_failures`` (None: all) of the rest, explained; returns how many of the rest."""
    unlisted = {id(item) for item in listed}
    budget, explained = max_failures, 0
    for item in tier.assignments:
        if not unlisted and budget == 0:
            break  # every candidate listed and the failure budget spent: the rest are counted
        if id(item) in unlisted:
            entries.append(_listed_entry(item, view, excluded))
            unlisted.discard(id(item))
        elif budget is None or budget > 0:
            entries.append(_assignment_entry(item, view))
            explained += 1
            budget = None if budget is None else budget - 1
    return explained


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
    if nearest.source is not None:
        entry["source"] = nearest.source
    entry["kept"] = [item.id for item in attempt.kept]
    if nearest.why is not None:
        entry["why"] = nearest.why
    return entry
