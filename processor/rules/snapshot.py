"""A rules version compiled once into an immutable value that routes leads.

Compiling resolves everything a lead would otherwise look up: each site id to its profile, each
interest category to its tier, each condition to a test on a slot, each assignment's partner,
opening hours and effective price, each profile's store index. Routing then reads the lead once (a
:class:`LeadView`) and works on these values. A new rules version compiles into a new snapshot,
swapped in whole; a snapshot is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from processor.geometry.geo import Geo
from processor.geometry.nearest import StoreIndex
from processor.rules.caps import CompiledCap
from processor.rules.conditions import Check, SlotOf, compile_check
from processor.rules.document import (
    Assignment,
    Cap,
    Partner,
    Profile,
    RulesDocument,
    is_all,
    seconds,
)
from processor.rules.fields import FieldRef, LeadReader, LeadView
from processor.rules.index import TierIndex
from processor.rules.people import DEFAULT_KEYS
from processor.rules.schedule import OpeningHours, compile_hours
from processor.rules.values import fold

TierKind = Literal["category", "all"]
ProfileReason = Literal["source", "default"]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledAssignment:
    """An assignment with its partner resolved, its price settled and its conditions compiled."""

    assignment: Assignment
    position: int
    """Its place among the profile's assignments, in document order (round robin counts on it)."""
    partner: Partner
    price: float
    filter: tuple[tuple[Check, ...], ...]
    hours: OpeningHours | None
    """The partner's opening hours; None when it has no schedule (always open)."""
    caps: tuple[CompiledCap, ...]
    """The partner's caps, then the assignment's own: a delivery must pass none."""

    @property
    def id(self) -> str:
        return self.assignment.id

    @property
    def weight(self) -> int:
        return self.assignment.weight


@dataclass(frozen=True, slots=True, eq=False)
class Tier:
    """The assignments a lead can match at one step: one category's, or those for ALL.

    ``assignments`` keeps those of inactive partners too, so traces can say why they were passed
    over; ``index`` never returns them.
    """

    kind: TierKind
    category: str | None
    assignments: tuple[CompiledAssignment, ...]
    index: TierIndex

    def match(self, view: LeadView, first_only: bool = False) -> list[CompiledAssignment]:
        """The tier's candidates for this lead, in document order (only the first if asked)."""
        return self.index.match(view, first_only)


@dataclass(frozen=True, slots=True)
class FallbackTarget:
    partner: Partner
    price: float
    hours: OpeningHours | None
    caps: tuple[CompiledCap, ...]
    """The partner's caps (a fallback delivery counts against them too)."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledProfile:
    profile: Profile
    categories: Mapping[str, Tier]
    """Category tiers by folded category name."""
    all_tier: Tier | None
    stores: StoreIndex | None
    """The profile's partner stores, when nearest-store routing is on and any partner has one."""
    assignments: tuple[CompiledAssignment, ...]
    """Every assignment, by position (document order)."""
    by_id: Mapping[str, CompiledAssignment]
    fallback: FallbackTarget | None
    """The fallback partner and price; None when there is none or its partner is inactive."""
    people: tuple[str, ...]
    """The keys that say who a lead is: the duplicate check's, else contact email and phone."""
    duplicates_ms: int | None
    """The span of the profile's duplicate check; None when it has none."""

    @property
    def id(self) -> str:
        return self.profile.id

    def assignment(self, assignment_id: str) -> CompiledAssignment:
        """The compiled assignment with this id (decisions name only assignments it has)."""
        return self.by_id[assignment_id]

    def tiers(self, category: object) -> tuple[Tier | None, Tier | None]:
        """The lead's category tier (None when its category has no assignments) and the ALL tier."""
        tier = self.categories.get(fold(category)) if isinstance(category, str) else None
        return tier, self.all_tier


class Snapshot:
    """An immutable, compiled rules version; ``version`` names it in decisions and metrics."""

    __slots__ = (
        "_avoid_ms",
        "_by_site",
        "_caps",
        "_default",
        "_hours",
        "_partners",
        "_reader",
        "document",
        "profiles",
        "version",
    )

    def __init__(self, document: RulesDocument, version: str) -> None:
        self.version = version
        self.document = document
        self._partners = partners = {partner.id: partner for partner in document.partners}
        slots: dict[FieldRef, int] = {}

        def slot_of(ref: FieldRef) -> int:
            return slots.setdefault(ref, len(slots))

        hours = {partner.id: _hours(partner) for partner in document.partners}
        self._hours = hours
        self._caps = caps = {
            partner.id: _caps(partner.caps, f"partner/{partner.id}", partner)
            for partner in document.partners
        }
        self._avoid_ms = {
            partner.id: seconds(partner.reject_duplicates_within) * 1000
            for partner in document.partners
            if partner.reject_duplicates_within is not None
        }
        self.profiles = tuple(
            _compile_profile(p, partners, hours, caps, slot_of) for p in document.profiles
        )
        self._reader = LeadReader(list(slots))
        self._by_site = {
            fold(source): compiled
            for compiled in self.profiles
            for source in compiled.profile.sources
        }
        self._default = next((c for c in self.profiles if c.profile.default), None)

    def profile_for(self, site_id: object) -> tuple[CompiledProfile | None, ProfileReason | None]:
        """The profile whose sources hold ``site_id``, else the default profile, else None."""
        if isinstance(site_id, str):
            found = self._by_site.get(fold(site_id))
            if found is not None:
                return found, "source"
        if self._default is not None:
            return self._default, "default"
        return None, None

    def partner(self, partner_id: str) -> Partner:
        """The partner with this id (deliveries name only partners of this snapshot)."""
        return self._partners[partner_id]

    def hours(self, partner_id: str) -> OpeningHours | None:
        """The partner's opening hours; None when it has no schedule (always open)."""
        return self._hours[partner_id]

    def caps(self, partner_id: str) -> tuple[CompiledCap, ...]:
        """The partner's own caps, compiled."""
        return self._caps[partner_id]

    def avoid_ms(self, partner_id: str) -> int | None:
        """The partner's ``reject_duplicates_within`` in milliseconds; None when it has none."""
        return self._avoid_ms.get(partner_id)

    def partner_ids(self) -> tuple[str, ...]:
        """Every partner's id, active or not, in document order."""
        return tuple(self._partners)

    def read(self, lead: Mapping[str, object], geo: Geo | None) -> LeadView:
        """The lead's values for every field the rules test."""
        return self._reader.read(lead, geo)


def compile_rules(document: RulesDocument, version: str) -> Snapshot:
    """Compiles a validated document; do it once per rules version and share the result."""
    return Snapshot(document, version)


def _hours(partner: Partner) -> OpeningHours | None:
    schedule = partner.schedule
    if schedule is None:
        return None
    return compile_hours(partner.zone, schedule.days, schedule.closed_dates or ())


def _caps(caps: Sequence[Cap], scope: str, partner: Partner) -> tuple[CompiledCap, ...]:
    zone = ZoneInfo(partner.zone)
    return tuple(CompiledCap(cap, scope, zone) for cap in caps)


def _compile_profile(
    profile: Profile,
    partners: Mapping[str, Partner],
    hours: Mapping[str, OpeningHours | None],
    caps: Mapping[str, tuple[CompiledCap, ...]],
    slot_of: SlotOf,
) -> CompiledProfile:
    compiled = [
        CompiledAssignment(
            assignment,
            position,
            partners[assignment.partner],
            profile.price_of(assignment),
            tuple(tuple(compile_check(c, slot_of) for c in or_set) for or_set in assignment.filter),
            hours[assignment.partner],
            caps[assignment.partner]
            + _caps(
                assignment.caps,
                f"assignment/{profile.id}/{assignment.id}",
                partners[assignment.partner],
            ),
        )
        for position, assignment in enumerate(profile.assignments)
    ]
    grouped: dict[str, list[CompiledAssignment]] = {}
    labels: dict[str, str] = {}
    everywhere: list[CompiledAssignment] = []
    for item in compiled:
        category = item.assignment.category
        if is_all(category):
            everywhere.append(item)
        else:
            grouped.setdefault(fold(category), []).append(item)
            labels.setdefault(fold(category), category.strip())
    categories = {
        key: Tier("category", labels[key], tuple(items), TierIndex(items))
        for key, items in grouped.items()
    }
    all_tier = Tier("all", None, tuple(everywhere), TierIndex(everywhere)) if everywhere else None
    return CompiledProfile(
        profile,
        categories,
        all_tier,
        _stores(profile, compiled),
        tuple(compiled),
        {item.id: item for item in compiled},
        _fallback(profile, partners, hours, caps),
        profile.duplicates.keys if profile.duplicates is not None else DEFAULT_KEYS,
        seconds(profile.duplicates.within) * 1000 if profile.duplicates is not None else None,
    )


def _fallback(
    profile: Profile,
    partners: Mapping[str, Partner],
    hours: Mapping[str, OpeningHours | None],
    caps: Mapping[str, tuple[CompiledCap, ...]],
) -> FallbackTarget | None:
    spec, price = profile.fallback, profile.fallback_price
    if spec is None or price is None or not partners[spec.partner].active:
        return None
    return FallbackTarget(partners[spec.partner], price, hours[spec.partner], caps[spec.partner])


def _stores(profile: Profile, compiled: list[CompiledAssignment]) -> StoreIndex | None:
    """The profile's partner stores in order of first use: equal distances go to document order."""
    if not profile.nearest_store.enabled:
        return None
    stores: dict[str, tuple[str, float, float]] = {}
    for item in compiled:
        location = item.partner.location
        if location is not None and item.partner.active:
            stores.setdefault(item.partner.id, (item.partner.id, location.lat, location.lon))
    return StoreIndex(list(stores.values())) if stores else None
