"""Rules that are valid but probably not what was meant: shadowed or unreachable assignments,
leads that can end unroutable, unused partners, partners never open, caps that never bind, negative
prices, conditions on a custom field that is most likely a misnamed lead field, leads offered again
to nobody.

Lint never blocks a document (validation does that); it reads the document and its compiled
snapshot, so it judges the same tiers and the same merged conditions that routing uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from processor.rules.conditions import Check, compile_check
from processor.rules.document import Condition, Partner, Profile, RulesDocument
from processor.rules.errors import Location
from processor.rules.fields import GEO, SECTIONS, TOP_LEVEL, parse_field
from processor.rules.findings import Finding, finding
from processor.rules.index import satisfiable
from processor.rules.lint_caps import CapLint
from processor.rules.operators import Variable, parse_operand
from processor.rules.schedule import overlapping_ranges
from processor.rules.snapshot import CompiledProfile, Snapshot, Tier, compile_rules

_INTEREST_CATEGORY = parse_field("interest_category")

_LEAD_FIELDS: dict[str, str] = {
    **{name: name for name in TOP_LEVEL},
    **{
        name: f"{section}.{name}"
        for section in ("geo", "vehicle", "address", "contact")
        for name in SECTIONS[section]
    },
    **{section: f"{section}.<x>" for section in SECTIONS if section != GEO},
    "site": "site_id",
    "source": "site_id",
    "category": "interest_category",
    "interest": "interest_category",
    "offer": "offer_id",
    "comment": "comments",
    "zip": "address.postcode",
    "zipcode": "address.postcode",
    "zip_code": "address.postcode",
    "postal_code": "address.postcode",
    "province": "address.state",
}
"""Bare names a lead's own fields go by, and the path that tests them: without a ``fields``
section a bare name is a custom field, and ``email`` a condition that never sees the lead's email.
Later sections win, so ``state`` is ``address.state`` rather than ``geo``'s."""

_UNTESTABLE = frozenset({"lead_id", "submitted_at", "visitor", "ip"})
"""Lead fields no condition tests: a custom field of that name is almost certainly a mistake."""


def lint(document: RulesDocument) -> list[Finding]:
    """Every warning for ``document``, partners first, then profiles, in document order."""
    snapshot = compile_rules(document, "lint")
    caps = CapLint(document)
    findings = list(_partner_findings(document, snapshot, caps))
    for i, compiled in enumerate(snapshot.profiles):
        findings.extend(_profile_findings(document, ("profiles", i), compiled, caps))
        if not document.fields:
            findings.extend(_misnamed_fields(compiled.profile, ("profiles", i)))
    return findings


def _misnamed_fields(profile: Profile, here: Location) -> Iterator[Finding]:
    """Conditions (and variables) on a custom field that is most likely a lead field misnamed."""
    for j, assignment in enumerate(profile.assignments):
        for k, or_set in enumerate(assignment.filter):
            for m, condition in enumerate(or_set):
                where = (*here, "assignments", j, "filter", k, m)
                yield from _misnamed(condition.field, (*where, "field"))
                operand = parse_operand(condition.op, condition.value)
                if isinstance(operand, Variable):
                    yield from _misnamed(operand.path, (*where, "value"))


def _misnamed(path: str, where: Location) -> Iterator[Finding]:
    ref = parse_field(path)
    name = None if isinstance(ref, str) else ref.custom_name
    if name is None:
        return
    plain = name.casefold().replace("-", "_")
    if plain in _UNTESTABLE:
        yield finding(
            "not-a-lead-field",
            where,
            f"{path!r} is read from the lead's custom fields (fields.{name}): the lead's own "
            f"{plain} is not a field conditions can test",
        )
    elif plain in _LEAD_FIELDS:
        yield finding(
            "not-a-lead-field",
            where,
            f"{path!r} is read from the lead's custom fields (fields.{name}), which leads "
            f"seldom carry: did you mean {_LEAD_FIELDS[plain]!r}?",
        )


def _partner_findings(
    document: RulesDocument, snapshot: Snapshot, caps: CapLint
) -> Iterator[Finding]:
    used = {a.partner for p in document.profiles for a in p.assignments}
    used |= {p.fallback.partner for p in document.profiles if p.fallback is not None}
    alternatives = _alternatives(document)
    for i, partner in enumerate(document.partners):
        if partner.id not in used:
            yield finding(
                "unused-partner", ("partners", i), f"partner {partner.id!r} is never referenced"
            )
        if not partner.destinations:
            yield finding(
                "no-destinations",
                ("partners", i, "destinations"),
                f"partner {partner.id!r} has no destinations to deliver to",
            )
        if partner.schedule is not None:
            yield from _schedule_findings(snapshot, partner, ("partners", i, "schedule"))
        yield from caps.partner(partner, ("partners", i, "caps"))
        yield from _reoffer_findings(
            partner, ("partners", i, "delivery"), alternatives.get(partner.id, [])
        )


def _alternatives(document: RulesDocument) -> dict[str, list[set[str]]]:
    """For each partner, per profile that sells to it (an assignment or the fallback), the other
    active partners that profile sells to."""
    active = {partner.id for partner in document.partners if partner.active}
    others: dict[str, list[set[str]]] = {}
    for profile in document.profiles:
        named = {assignment.partner for assignment in profile.assignments}
        if profile.fallback is not None:
            named.add(profile.fallback.partner)
        for partner_id in named:
            others.setdefault(partner_id, []).append((named & active) - {partner_id})
    return others


def _reoffer_findings(
    partner: Partner, here: Location, others: list[set[str]]
) -> Iterator[Finding]:
    """A partner whose leads are offered again when it does not take them (``reoffer``), while
    every profile that sells to it has no other active partner: the decision that offers such a
    lead again leaves this partner out and finds nobody, so the lead ends unroutable."""
    policy = partner.policy
    reoffers = [
        where
        for where, chosen in (
            (("on_exhausted",), policy.on_exhausted == "reoffer"),
            (("on_refused",), policy.on_refused == "reoffer"),
            (("returns", "reoffer"), policy.returns.reoffer),
        )
        if chosen
    ]
    if partner.active and reoffers and others and not any(others):
        yield finding(
            "reoffer-without-alternative",
            (*here, *reoffers[0]),
            f"partner {partner.id!r} has its leads offered again when it does not take them, "
            "but no profile that sells to it has another active partner: such a lead ends "
            "unroutable",
        )


def _schedule_findings(snapshot: Snapshot, partner: Partner, here: Location) -> Iterator[Finding]:
    assert partner.schedule is not None
    hours = snapshot.hours(partner.id)
    if hours is not None and hours.never_open:
        yield finding(
            "never-open",
            here,
            f"partner {partner.id!r} is never open: its schedule gives no day any hours, so it "
            "is never a candidate",
        )
    for key, ranges in partner.schedule.days.items():
        overlap = overlapping_ranges(ranges)
        if overlap is not None:
            yield finding(
                "overlapping-hours",
                (*here, key),
                f"hours {overlap[0]!r} and {overlap[1]!r} overlap: the partner is open in either",
            )


def _profile_findings(
    document: RulesDocument, where: Location, compiled: CompiledProfile, caps: CapLint
) -> Iterator[Finding]:
    profile = compiled.profile
    here = tuple(where)
    if not profile.sources and not profile.default:
        yield finding(
            "unreachable-profile",
            here,
            f"profile {profile.id!r} has no sources and is not the default: no lead reaches it",
        )
    yield from _prices(profile, here)
    if profile.max_partners is not None and profile.strategy != "all":
        yield finding(
            "max-partners-unused",
            (*here, "max_partners"),
            f"max_partners limits only the all strategy; under {profile.strategy} a lead is sold "
            "to one partner",
        )
    if profile.fallback is not None and compiled.fallback is None:
        yield finding(
            "inactive-partner",
            (*here, "fallback"),
            f"fallback partner {profile.fallback.partner!r} is inactive: it never takes a lead",
        )
    hours = compiled.fallback.hours if compiled.fallback is not None else None
    if profile.fallback is not None and hours is not None and not hours.always_open:
        yield finding(
            "closed-fallback",
            (*here, "fallback"),
            f"fallback partner {profile.fallback.partner!r} has a schedule: leads no assignment "
            "takes while it is closed end unroutable",
        )
    partners = {partner.id: partner for partner in document.partners}
    for j, assignment in enumerate(profile.assignments):
        partner = partners[assignment.partner]
        if not partner.active:
            yield finding(
                "inactive-partner",
                (*here, "assignments", j, "partner"),
                f"assignment {assignment.id!r} is never chosen: partner {partner.id!r} is inactive",
            )
        yield from caps.assignment(
            assignment, (*here, "assignments", j, "caps"), profile.price_of(assignment)
        )
    tiers = [*compiled.categories.values(), *([compiled.all_tier] if compiled.all_tier else [])]
    for tier in tiers:
        yield from _never_matching(here, tier)
        if profile.strategy == "first_match" and not profile.nearest_store.enabled:
            yield from _shadowed(here, tier)
    yield from _unroutable(here, compiled)
    if profile.nearest_store.enabled and compiled.stores is None:
        yield finding(
            "nearest-without-locations",
            (*here, "nearest_store"),
            "nearest_store is enabled but none of the profile's active partners has a location",
        )


def _prices(profile: Profile, here: Location) -> Iterator[Finding]:
    if profile.base_price < 0:
        yield finding("negative-price", (*here, "base_price"), "base_price is below zero")
    if profile.fallback is not None and (profile.fallback_price or 0) < 0:
        yield finding("negative-price", (*here, "fallback"), "the fallback price is below zero")
    for j, assignment in enumerate(profile.assignments):
        if assignment.price is not None and assignment.price < 0:
            yield finding(
                "negative-price", (*here, "assignments", j, "price"), "the price is below zero"
            )


def _never_matching(here: Location, tier: Tier) -> Iterator[Finding]:
    for item in tier.assignments:
        impossible = [
            k for k, checks in enumerate(item.filter) if not satisfiable(_in_tier(checks, tier))
        ]
        where = (*here, "assignments", item.position, "filter")
        if impossible and len(impossible) == len(item.filter):
            yield finding(
                "never-matches",
                where,
                f"assignment {item.id!r} can never match: each OR-set contradicts itself",
            )
        else:
            for k in impossible:
                yield finding(
                    "never-matches", (*where, k), "this OR-set contradicts itself and never holds"
                )


def _in_tier(checks: Sequence[Check], tier: Tier) -> Sequence[Check]:
    """An OR-set's checks as its tier applies them: a category tier only sees leads whose
    interest_category is that category, so a condition on interest_category that excludes it
    (``equals: Sales`` in the Service tier) is a contradiction too."""
    if tier.category is None:
        return checks
    slot = next((c.slot for c in checks if c.condition.ref == _INTEREST_CATEGORY), None)
    if slot is None:
        return checks  # nothing in the OR-set reads the category: nothing to contradict
    implied = Condition(field="interest_category", op="equals", value=tier.category)
    return [*checks, compile_check(implied, lambda ref: slot)]


def _shadowed(here: Location, tier: Tier) -> Iterator[Finding]:
    """Under first_match the first candidate wins, so nothing after an always-matching
    assignment, or after an earlier assignment with the very same filter, is ever chosen."""
    catch_all = None
    earlier: dict[str, str] = {}
    for item in tier.assignments:
        if not item.partner.active:
            continue
        where = (*here, "assignments", item.position)
        if catch_all is not None:
            yield finding(
                "shadowed",
                where,
                f"assignment {item.id!r} is never chosen: {catch_all!r} before it in the same "
                "tier matches every lead (first_match)",
            )
            continue
        written = [[c.model_dump(mode="json") for c in or_set] for or_set in item.assignment.filter]
        same = earlier.setdefault(json.dumps(written, sort_keys=True), item.id)
        if same != item.id:
            yield finding(
                "shadowed",
                where,
                f"assignment {item.id!r} is never chosen: {same!r} before it in the same tier "
                "has the same filter (first_match)",
            )
        if item.assignment.is_catch_all:
            catch_all = item.id


def _unroutable(here: Location, compiled: CompiledProfile) -> Iterator[Finding]:
    if compiled.fallback is not None:
        return
    all_tier = compiled.all_tier
    active_all = [a for a in all_tier.assignments if a.partner.active] if all_tier else []
    if not active_all:
        for tier in compiled.categories.values():
            first = tier.assignments[0]
            yield finding(
                "no-fallback-for-category",
                (*here, "assignments", first.position, "category"),
                f"leads of category {tier.category!r} that match none of its assignments end "
                "unroutable: there is no ALL assignment and no fallback behind them",
            )
    if not any(a.assignment.is_catch_all for a in active_all):
        yield finding(
            "no-fallback",
            here,
            "leads that match no assignment end unroutable: the profile has no (active) fallback "
            "and no ALL assignment that matches every lead",
        )
