"""The rules in force as people read them: what the console's Routing page shows.

Sales operations staff read the routing rules, not the YAML: each filter becomes OR-sets of
conditions in words ("address.state is one of NY, NJ AND budget >= 40000"), each cap its use now
("2 of 3 leads per day, resets 2026-12-02 05:00 UTC"), each schedule whether it is open now. The
assignments are listed in the order the engine evaluates them: the category tiers, then ALL, then
the fallback. Pure: the caps' use comes in as a :class:`~processor.state.report.StateReport`,
read elsewhere; without one each cap says why its use is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor.delivery.sending import describe
from processor.rules import Snapshot
from processor.rules.document import Cap, Condition, Partner
from processor.rules.snapshot import CompiledAssignment, CompiledProfile
from processor.state.report import CapUse, StateReport

LIST_SHOWN = 12
"""Values of a list condition shown; the rest are counted, so a thousand postcodes stay a line."""

_WORDS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "in_list": "is one of",
    "not_in_list": "is not one of",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "matches": "matches",
}


def condition_text(condition: Condition) -> str:
    """One condition in words: ``address.state is one of NY, NJ``, ``budget >= 40000``."""
    field, op, value = condition.field, condition.op, condition.value
    if op == "is_empty":
        return f"{field} is empty"
    if op == "is_not_empty":
        return f"{field} is not empty"
    if op == "between" and isinstance(value, list | tuple) and len(value) == 2:
        return f"{field} is between {_value(value[0])} and {_value(value[1])}"
    if op == "within_km" and isinstance(value, Mapping):
        where = f"({_value(value.get('lat'))}, {_value(value.get('lon'))})"
        return f"{field} is within {_value(value.get('km'))} km of {where}"
    return f"{field} {_WORDS.get(op, op)} {_value(value)}"


def _value(value: Any) -> str:
    if isinstance(value, Mapping) and "var" in value:
        return f"the lead's {value['var']}"
    if isinstance(value, list | tuple):
        shown = ", ".join(_value(item) for item in value[:LIST_SHOWN])
        more = len(value) - LIST_SHOWN
        return shown + (f" and {more} more" if more > 0 else "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def filter_text(compiled: CompiledAssignment) -> tuple[str, ...]:
    """Each OR-set as its conditions joined by AND; empty for an assignment that takes every
    lead of its tier."""
    return tuple(
        " AND ".join(condition_text(condition) for condition in or_set)
        for or_set in compiled.assignment.filter
    )


@dataclass(frozen=True)
class CapLine:
    text: str
    full: bool


@dataclass(frozen=True)
class Hours:
    """Whether a partner takes leads now, and its hours as written."""

    open: bool
    text: str
    why: str


@dataclass(frozen=True)
class AssignmentView:
    tier: str
    id: str
    partner: str
    conditions: tuple[str, ...]
    price: str
    caps: tuple[CapLine, ...]
    hours: Hours
    active: bool


@dataclass(frozen=True)
class ProfileView:
    id: str
    sources: tuple[str, ...]
    default: bool
    strategy: str
    tiers: tuple[str, ...]
    assignments: tuple[AssignmentView, ...]
    fallback: str | None
    fallback_hours: Hours | None
    duplicates: str | None
    nearest: str | None


@dataclass(frozen=True)
class PartnerView:
    id: str
    name: str
    active: bool
    format: str
    destinations: tuple[str, ...]
    caps: tuple[CapLine, ...]
    hours: Hours


@dataclass(frozen=True)
class RulesView:
    version: str
    profiles: tuple[ProfileView, ...]
    partners: tuple[PartnerView, ...]


class _CapsNow:
    """Each owner's caps with their use, or why the use is unknown."""

    def __init__(self, report: StateReport | None, unknown: str) -> None:
        self._unknown = unknown
        self._partners = {p.partner: p.caps for p in report.partners} if report else {}
        self._assignments = (
            {(a.profile, a.assignment): a.caps for a in report.assignments} if report else {}
        )

    def partner(self, partner: Partner) -> tuple[CapLine, ...]:
        return self._lines(partner.caps, self._partners.get(partner.id))

    def assignment(self, profile: str, compiled: CompiledAssignment) -> tuple[CapLine, ...]:
        own = self._assignments.get((profile, compiled.id))
        return self.partner(compiled.partner) + self._lines(compiled.assignment.caps, own)

    def _lines(self, caps: Sequence[Cap], use: Sequence[CapUse] | None) -> tuple[CapLine, ...]:
        if use is None or len(use) != len(caps):
            why = f"use unknown: {self._unknown}"
            return tuple(CapLine(f"{cap.summary} ({why})", False) for cap in caps)
        return tuple(_cap_line(cap, now) for cap, now in zip(caps, use, strict=True))


def _cap_line(cap: Cap, use: CapUse) -> CapLine:
    if use.currency is None:
        measure = f"{use.used:,.0f} of {use.limit:,.0f} leads {cap.window}"
    else:
        measure = f"{use.used:,.2f} of {use.limit:,.2f} {use.currency} {cap.window}"
    resets = ""
    if use.resets is not None:
        resets = f", resets {use.resets.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return CapLine(measure + resets, use.left <= 0)


def _hours(snapshot: Snapshot, partner: Partner, now: datetime) -> Hours:
    compiled = snapshot.hours(partner.id)
    if compiled is None:
        return Hours(True, "always open", "")
    schedule = partner.schedule
    assert schedule is not None, "a partner with opening hours has a schedule"
    days = "; ".join(f"{key} {', '.join(ranges)}" for key, ranges in schedule.days.items())
    closed = f"; closed {', '.join(schedule.closed_dates)}" if schedule.closed_dates else ""
    text = f"{days or 'never open'}{closed} ({partner.zone})"
    is_open = compiled.is_open(now)
    return Hours(is_open, text, "" if is_open else compiled.why_closed(now))


def _tiers(compiled: CompiledProfile) -> list[tuple[str, Sequence[CompiledAssignment]]]:
    """The profile's tiers in the order a lead meets them: its category's, then ALL."""
    tiers: list[tuple[str, Sequence[CompiledAssignment]]] = [
        (f"category {tier.category}", tier.assignments) for tier in compiled.categories.values()
    ]
    if compiled.all_tier is not None:
        tiers.append(("ALL", compiled.all_tier.assignments))
    return tiers


def _tier_order(compiled: CompiledProfile) -> tuple[str, ...]:
    """The steps a lead goes through: the tier of its own category (one of them), then ALL."""
    categories = [str(tier.category) for tier in compiled.categories.values()]
    order = (f"its category's ({' | '.join(categories)})",) if categories else ()
    return order + (("ALL",) if compiled.all_tier is not None else ())


def _profile(
    snapshot: Snapshot, compiled: CompiledProfile, caps: _CapsNow, now: datetime
) -> ProfileView:
    profile = compiled.profile
    tiers = _tiers(compiled)
    assignments = tuple(
        AssignmentView(
            tier=name,
            id=item.id,
            partner=item.partner.id,
            conditions=filter_text(item),
            price=f"{item.price:,.2f} {profile.currency}",
            caps=caps.assignment(profile.id, item),
            hours=_hours(snapshot, item.partner, now),
            active=item.partner.active,
        )
        for name, items in tiers
        for item in items
    )
    fallback = fallback_hours = None
    if profile.fallback is not None:
        price = profile.fallback_price or 0.0
        fallback = f"{profile.fallback.partner} at {price:,.2f} {profile.currency}"
        fallback_hours = _hours(snapshot, snapshot.partner(profile.fallback.partner), now)
    duplicates = None
    if profile.duplicates is not None:
        keys = ", ".join(profile.duplicates.keys)
        duplicates = f"the same {keys} within {profile.duplicates.within}"
    nearest = None
    if profile.nearest_store.enabled:
        reach = profile.nearest_store.max_km
        nearest = "nearest store" + (f" within {_value(reach)} km" if reach is not None else "")
    return ProfileView(
        id=profile.id,
        sources=profile.sources,
        default=profile.default,
        strategy=profile.strategy,
        tiers=_tier_order(compiled) + (("fallback",) if fallback else ()),
        assignments=assignments,
        fallback=fallback,
        fallback_hours=fallback_hours,
        duplicates=duplicates,
        nearest=nearest,
    )


def rules_view(
    snapshot: Snapshot, report: StateReport | None, unknown: str, now: datetime
) -> RulesView:
    """The snapshot as the Routing page shows it at ``now``; ``report`` gives the caps' use, and
    ``unknown`` says why it is missing when it is None."""
    caps = _CapsNow(report, unknown)
    partners = tuple(
        PartnerView(
            id=partner.id,
            name=partner.name or "",
            active=partner.active,
            format=partner.format,
            destinations=tuple(describe(uri) for uri in partner.destinations),
            caps=caps.partner(partner),
            hours=_hours(snapshot, partner, now),
        )
        for partner in snapshot.document.partners
    )
    return RulesView(
        snapshot.version,
        tuple(_profile(snapshot, compiled, caps, now) for compiled in snapshot.profiles),
        partners,
    )
