"""Routing one lead: profile, tiers, nearest store, strategy, fallback (contract section 5).

:func:`decide` is the engine's one entry point per lead, for the stream processor and for
``dry-run`` alike. It reads the lead once, asks each tier's condition index for candidates, and
returns a :class:`Decision`. The trace is recorded only when asked for and built when first read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from processor.geometry.distance import great_circle_km
from processor.geometry.geo import Geo, GeoSource
from processor.geometry.nearest import StoreIndex
from processor.rules import caps
from processor.rules.caps import CompiledCap
from processor.rules.deliveries import delivery_id
from processor.rules.document import Location
from processor.rules.errors import LeadWithoutId
from processor.rules.fields import LeadView
from processor.rules.ledger import Ledger, Prior, Sold, epoch_ms
from processor.rules.people import fingerprints
from processor.rules.schedule import lead_time
from processor.rules.snapshot import CompiledAssignment, CompiledProfile, Snapshot, Tier
from processor.rules.strategies import choose, one_per_partner
from processor.rules.trace import (
    DEFAULT_MAX_FAILURES,
    TRACE_MAX_BYTES,
    Attempt,
    Entry,
    Nearest,
    Route,
    build,
    build_json,
)

Outcome = Literal["routed", "fallback", "unroutable", "duplicate", "rejected"]
"""``rejected`` is never decided here: it records input that could not be routed at all."""
TierName = Literal["category", "all", "fallback"]

DISTANCE_DECIMALS = 3
"""Distances are reported to the metre."""

Exclusion = Literal["closed", "capped", "duplicate", "offered"]
"""Why a matching candidate was passed over: counted per partner in the metrics. ``offered``: a
re-offer leaves out every partner the lead was offered to before."""


@dataclass(frozen=True, slots=True)
class Reoffer:
    """A lead decided again because a delivery of it was not sold: its worker gave up on it, or
    the partner returned it. The new decision replaces that one delivery: it makes at most one,
    to a partner the lead was never offered to."""

    of: str
    """The delivery id given up on or returned."""
    why: str
    """Why, for the trace, which opens with it."""
    offered: tuple[str, ...]
    """Every partner the lead was offered to so far: each is left out."""
    attempt: int
    """The new decision's attempt: the given-up delivery's plus one."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One partner's share of a lead: ``assignment`` is None for a fallback delivery."""

    partner: str
    assignment: str | None
    price: float
    currency: str
    distance_km: float | None
    delivery_id: str
    """The lead's id with this partner (:func:`~processor.rules.deliveries.delivery_id`): made
    once here, for the ledger and the delivery record alike."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "assignment": self.assignment,
            "price": self.price,
            "currency": self.currency,
            "distance_km": self.distance_km,
        }


class Decision:
    """Where a lead goes and, on request, why (see :mod:`processor.rules.trace`)."""

    __slots__ = (
        "_route",
        "_trace",
        "attempt",
        "counted",
        "deliveries",
        "duplicate_of",
        "error",
        "exclusions",
        "geo",
        "lead_id",
        "outcome",
        "profile",
        "reoffer_of",
        "rules_version",
        "tier",
    )

    def __init__(
        self,
        lead_id: str,
        rules_version: str,
        profile: str | None,
        outcome: Outcome,
        tier: TierName | None,
        deliveries: tuple[Delivery, ...],
        geo: Geo | None,
        route: Route | None,
    ) -> None:
        self.lead_id = lead_id
        self.rules_version = rules_version
        self.profile = profile
        self.outcome: Outcome = outcome
        self.tier: TierName | None = tier
        self.deliveries = deliveries
        self.geo = geo
        self._route = route
        self._trace: list[Entry] | None = None
        self.error: str | None = None
        self.duplicate_of: str | None = None
        """The earlier lead a ``duplicate`` repeats."""
        self.exclusions: tuple[tuple[str, Exclusion], ...] = ()
        """Each matching candidate's partner passed over, and why."""
        self.counted: tuple[tuple[CompiledCap, int], ...] = ()
        """The caps the deliveries counted against, each once with its use after the decision
        (for the cap metrics)."""
        self.attempt = 1
        """1 for a lead's first decision; a re-offer's counts on from the delivery it replaces."""
        self.reoffer_of: str | None = None
        """The delivery a re-offer replaces."""

    @classmethod
    def rejected(cls, lead_id: str, reason: str, message: str, rules_version: str = "") -> Decision:
        """The decision recorded for a lead whose input was invalid, so the audit log has it.

        Its ``error`` reads ``<reason>: <message>`` (``invalid-lead: site_id: must not be empty``)
        in the audit record and in ``dry-run`` alike.
        """
        decision = cls(lead_id, rules_version, None, "rejected", None, (), None, None)
        decision.error = f"{reason}: {message}"
        return decision

    @property
    def trace(self) -> list[Entry]:
        """The trace with the default limit; empty when the decision was made without one."""
        if self._trace is None:
            self._trace = self.explain()
        return self._trace

    def explain(
        self,
        max_failures: int | None = DEFAULT_MAX_FAILURES,
        max_bytes: int | None = TRACE_MAX_BYTES,
    ) -> list[Entry]:
        """The trace, explaining up to ``max_failures`` non-matching assignments per tier (None:
        all of them), in at most ``max_bytes`` bytes of JSON (None: no limit)."""
        return [] if self._route is None else build(self._route, max_failures, max_bytes)

    def explain_json(self, max_failures: int | None, max_bytes: int) -> str:
        """:meth:`explain` as JSON text, for the audit record: encoded once, not once to measure
        it and again to write it."""
        return "[]" if self._route is None else build_json(self._route, max_failures, max_bytes)

    def as_dict(self, max_failures: int | None = DEFAULT_MAX_FAILURES) -> dict[str, Any]:
        """The decision as ``dry-run`` prints it (contract section 6)."""
        trace = self.trace if max_failures == DEFAULT_MAX_FAILURES else self.explain(max_failures)
        return {
            "lead_id": self.lead_id,
            "rules_version": self.rules_version,
            "profile": self.profile,
            "outcome": self.outcome,
            "duplicate_of": self.duplicate_of,
            "tier": self.tier,
            "deliveries": [delivery.as_dict() for delivery in self.deliveries],
            "geo": None if self.geo is None else self.geo.as_dict(),
            "trace": trace,
            "error": self.error,
        }

    def __repr__(self) -> str:
        return (
            f"Decision(lead_id={self.lead_id!r}, profile={self.profile!r}, "
            f"outcome={self.outcome!r}, tier={self.tier!r}, deliveries={self.deliveries!r})"
        )


@dataclass(frozen=True, slots=True)
class Matches:
    """Which assignments of a lead's profile its filters matched, per tier (positions in the
    profile, document order), under one rules version: the stateless part of routing, which the
    processor's match stage does in parallel so that the decide stage, which holds the state,
    only checks the candidates. It holds for that version only."""

    rules_version: str
    category: tuple[int, ...]
    all: tuple[int, ...]


def match(snapshot: Snapshot, lead: Mapping[str, Any], geo: Geo | None) -> Matches:
    """The assignments the lead's filters match in each tier of its profile."""
    compiled, _ = snapshot.profile_for(lead.get("site_id"))
    if compiled is None:
        return Matches(snapshot.version, (), ())
    view = snapshot.read(lead, geo)
    category, everywhere = compiled.tiers(lead.get("interest_category"))
    return Matches(
        snapshot.version,
        tuple(item.position for item in category.match(view)) if category else (),
        tuple(item.position for item in everywhere.match(view)) if everywhere else (),
    )


def decide(
    snapshot: Snapshot,
    lead: Mapping[str, Any],
    geo: Geo | None,
    ledger: Ledger,
    *,
    trace: bool = True,
    notes: Sequence[str] = (),
    locate: Callable[[GeoSource], Geo | None] | None = None,
    matches: Matches | None = None,
    redriven: bool = False,
    reoffer: Reoffer | None = None,
    body: bytes | None = None,
) -> Decision:
    """Routes one lead with what ``ledger`` remembers, and records the decision there: its lead
    id, the person it was routed for, each delivery against its caps, the rotation.

    ``geo`` is the lead's enriched geolocation, ``notes`` enrichment's reasons for it (they open the
    trace). ``locate`` gives the lead's location from one source, for nearest-store routing, which
    trusts the sources in the profile's order rather than ``geo``'s; without it ``geo`` is the only
    location the lead has. With ``trace=False`` nothing is recorded for the trace and
    ``Decision.trace`` is empty. ``matches`` is what :func:`match` found for the lead; used when it
    was found under this snapshot's version, else the filters are matched again. ``redriven``:
    the lead was published again by ``lead-router redrive`` (see :func:`_remembered`).

    ``reoffer``: the lead is decided again in place of a delivery that was not sold (see
    :class:`Reoffer`). Its earlier decision does not make it a duplicate of itself, and the lead
    id keeps its first decision (a redrive of it stays a duplicate); other leads' memories,
    caps, schedules and rotation count as for any lead. ``body`` is the lead's Avro body, kept
    with each delivery whose partner offers a returned lead to the next candidate.
    """
    lead_id = lead.get("lead_id")
    if not isinstance(lead_id, str) or not lead_id:
        raise LeadWithoutId("a lead needs a lead_id: a non-empty string")
    site_id = lead.get("site_id")
    when = lead_time(lead) or EPOCH
    route = Route(site_id, notes, when) if trace else None
    compiled, reason = snapshot.profile_for(site_id)
    if route is not None:
        route.profile, route.reason = compiled, reason
        if reoffer is not None:
            route.reoffer = {
                "step": "reoffer",
                "reoffer_of": reoffer.of,
                "attempt": reoffer.attempt,
                "why": reoffer.why,
                "offered": list(reoffer.offered),
            }
    prior = None if reoffer is not None else ledger.decided(lead_id, when)
    prior = _remembered(prior, redriven, route)
    if prior is not None:
        why = (
            f"lead id {lead_id!r} was decided before ({prior.outcome or 'decided'}, for a lead "
            f"of {_moment(prior.at)}): nothing is sold twice"
        )
        return _duplicate(snapshot, compiled, lead_id, geo, route, prior, why)
    if compiled is None:
        decision = _again(
            Decision(lead_id, snapshot.version, None, "unroutable", None, (), geo, route), reoffer
        )
        if reoffer is None:
            ledger.decide_lead(lead_id, when, decision.outcome)
        return decision
    state = _State(
        snapshot,
        ledger,
        when,
        lambda: fingerprints(lead, geo, compiled.people, ledger.salt),
        lead_id,
        reoffer,
        body,
    )
    within = compiled.duplicates_ms
    if within is not None:
        prior = ledger.seen_by_profile(compiled.id, state.people, when, within)
        if prior is not None and not (reoffer is not None and prior.lead_id == lead_id):
            why = (
                f"profile {compiled.id!r} routed the same person (by its duplicate keys) in lead "
                f"{prior.lead_id!r} of {_moment(prior.at)}, within "
                f"{compiled.profile.duplicates.within if compiled.profile.duplicates else ''}"
            )
            return _again(_duplicate(snapshot, compiled, lead_id, geo, route, prior, why), reoffer)
    # Read only now: most leads a duplicate check stops never look at a field again.
    view = snapshot.read(lead, geo)
    if route is not None:
        route.view = view
    found = matches if matches is not None and matches.rules_version == snapshot.version else None
    decision = _decide_tiers(
        snapshot, compiled, lead, lead_id, view, geo, locate, state, route, found
    )
    decision.exclusions = tuple(state.excluded)
    _record(snapshot, compiled, _again(decision, reoffer), state)
    return decision


def _again(decision: Decision, reoffer: Reoffer | None) -> Decision:
    """The decision, numbered as the re-offer it is."""
    if reoffer is not None:
        decision.attempt, decision.reoffer_of = reoffer.attempt, reoffer.of
    return decision


def _remembered(prior: Prior | None, redriven: bool, route: Route | None) -> Prior | None:
    """The earlier decision that makes the lead a duplicate of itself. A redriven lead whose
    earlier decision was ``unroutable`` is routed again: that decision sold nothing, and the
    redrive follows a fix. A routed or fallback decision still counts, so nothing is sold twice,
    even to a publisher that forges the redrive header."""
    if prior is None or not redriven or prior.outcome != "unroutable":
        return prior
    if route is not None:
        route.redrive = (
            f"the earlier decision (a lead of {_moment(prior.at)}) was unroutable: the redriven "
            "lead is routed again"
        )
    return None


EPOCH = datetime.fromtimestamp(0, UTC)
"""The time of a lead without one: only a lead built by hand lacks it, as every decoded lead and
every lead ``dry-run`` reads has one."""


class _State:
    """What one lead's candidates are checked against: caps and partners' duplicate spans."""

    __slots__ = (
        "_people",
        "_verdicts",
        "_who",
        "body",
        "excluded",
        "lead_id",
        "ledger",
        "reoffer",
        "snapshot",
        "when",
        "windows",
    )

    def __init__(
        self,
        snapshot: Snapshot,
        ledger: Ledger,
        when: datetime,
        who: Callable[[], tuple[bytes, ...]],
        lead_id: str,
        reoffer: Reoffer | None = None,
        body: bytes | None = None,
    ) -> None:
        self.lead_id = lead_id
        self.reoffer = reoffer
        self.body = body
        self.snapshot = snapshot
        self.ledger = ledger
        self.when = when
        self.windows = caps.Windows(when)
        self._who = who
        self._people: tuple[bytes, ...] | None = None
        self.excluded: list[tuple[str, Exclusion]] = []
        self._verdicts: dict[tuple[str, int, float], tuple[str | None, Exclusion]] = {}
        """Verdicts by partner, caps and price: a partner's assignments mostly share all three."""

    @property
    def people(self) -> tuple[bytes, ...]:
        """The lead's person digests, made when first needed: normalising a phone number is the
        costliest part of a duplicate check, and most rules never ask."""
        if self._people is None:
            self._people = self._who()
        return self._people

    def available(
        self, candidates: Sequence[CompiledAssignment]
    ) -> tuple[Sequence[CompiledAssignment], list[tuple[CompiledAssignment, str]]]:
        """The candidates under every cap that have not received this person within their
        partner's span, and those passed over with why."""
        kept: list[CompiledAssignment] = []
        passed: list[tuple[CompiledAssignment, str]] = []
        for item in candidates:
            key = (item.partner.id, id(item.caps), item.price)
            verdict = self._verdicts.get(key)
            if verdict is None:
                verdict = self._verdicts[key] = self._why_not(item)
            why, kind = verdict
            if why is None:
                kept.append(item)
            else:
                passed.append((item, why))
                self.excluded.append((item.partner.id, kind))
        return (candidates, passed) if not passed else (kept, passed)

    def _why_not(self, item: CompiledAssignment) -> tuple[str | None, Exclusion]:
        why = self.offered_before(item.partner.id)
        if why is not None:
            return why, "offered"
        if item.caps:
            why = caps.full(item.caps, self.ledger, self.windows, item.price)
            if why is not None:
                return why, "capped"
        partner = item.partner.id
        span = self.snapshot.avoid_ms(partner)
        if span is not None and self.people:
            prior = self.ledger.seen_by_partner(partner, self.people, self.when, span)
            if prior is not None:
                return (
                    f"duplicate: partner {partner!r} received this person in lead "
                    f"{prior.lead_id!r} of {_moment(prior.at)}, within "
                    f"{self.snapshot.partner(partner).reject_duplicates_within}",
                    "duplicate",
                )
        return None, "capped"

    def offered_before(self, partner: str) -> str | None:
        """Why a re-offer leaves ``partner`` out; None when it does not. Besides the partners the
        replaced delivery knew of, any partner with a delivery of this lead remembered is out: of
        two partners a strategy ``all`` decision chose, each can be re-offered in turn, and
        neither's re-offer knows where the other's went."""
        if self.reoffer is None:
            return None
        known = partner in self.reoffer.offered
        if not known and self.ledger.sold(delivery_id(self.lead_id, partner)) is None:
            return None
        return f"offered: the lead was offered to partner {partner!r} before"


def _decide_tiers(
    snapshot: Snapshot,
    compiled: CompiledProfile,
    lead: Mapping[str, Any],
    lead_id: str,
    view: LeadView,
    geo: Geo | None,
    locate: Callable[[GeoSource], Geo | None] | None,
    state: _State,
    route: Route | None,
    found: Matches | None,
) -> Decision:
    """Steps 4 to 7: the first tier with a candidate decides, else the fallback."""
    profile = compiled.profile
    stores, here = compiled.stores, None
    if stores is not None:
        here = _first_located(profile.nearest_store.sources, geo, locate)
        if here is None:
            stores = None
    # first_match needs one candidate, but the trace lists them all.
    first_only = route is None and profile.strategy == "first_match" and stores is None
    category = lead.get("interest_category")
    category_tier, all_tier = compiled.tiers(category)
    when = state.when
    for kind, tier in (("category", category_tier), ("all", all_tier)):
        candidates: Sequence[CompiledAssignment] = []
        closed: Sequence[CompiledAssignment] = ()
        passed: list[tuple[CompiledAssignment, str]] = []
        if tier is not None:
            given = None
            if found is not None:
                given = _matched_at(
                    compiled, tier, found.category if kind == "category" else found.all
                )
            matched = given if given is not None else tier.match(view, first_only)
            counted = len(state.excluded)
            candidates, closed, passed = _open_and_available(matched, state)
            if first_only and given is None and matched and not candidates:
                # the first is out: look further (and count it out once)
                del state.excluded[counted:]
                candidates, closed, passed = _open_and_available(tier.match(view), state)
        kept = candidates
        nearest = None
        if candidates and stores is not None:
            assert here is not None
            kept, nearest = _nearest(stores, candidates, here, profile.nearest_store.max_km)
        elif candidates and compiled.stores is not None and route is not None:
            nearest = Nearest(None, None, _unlocated(profile.nearest_store.sources, geo))
        if route is not None:
            label = None
            if kind == "category":
                label = tier.category if tier is not None else _text_or_none(category)
            route.attempts.append(
                Attempt(kind, label, tier, candidates, kept, nearest, closed, passed)
            )
        if kept:
            assert tier is not None
            return _routed(snapshot, compiled, tier, kept, lead_id, geo, nearest, state, route)
    return _fallback(snapshot, compiled, lead_id, geo, when, state, route)


def _matched_at(
    compiled: CompiledProfile, tier: Tier, positions: Sequence[int]
) -> list[CompiledAssignment] | None:
    """The tier's assignments at ``positions``, as the match stage found them; None when they
    cannot be its matches (out of range, another tier's, out of order, an inactive partner's):
    the decide topic is a topic, and a record on it is checked like any other input."""
    found: list[CompiledAssignment] = []
    last = -1
    for position in positions:
        if not last < position < len(compiled.assignments) or position not in tier.positions:
            return None
        item = compiled.assignments[position]
        if not item.partner.active:
            return None
        found.append(item)
        last = position
    return found


def _open_and_available(
    matched: Sequence[CompiledAssignment], state: _State
) -> tuple[
    Sequence[CompiledAssignment],
    Sequence[CompiledAssignment],
    list[tuple[CompiledAssignment, str]],
]:
    """The matching assignments that are candidates, those closed, and those passed over for
    state (caps, duplicates)."""
    opened, closed = _open_at(matched, state.when)
    for item in closed:
        state.excluded.append((item.partner.id, "closed"))
    available, passed = state.available(opened)
    return available, closed, passed


def _duplicate(
    snapshot: Snapshot,
    compiled: CompiledProfile | None,
    lead_id: str,
    geo: Geo | None,
    route: Route | None,
    prior: Prior,
    why: str,
) -> Decision:
    """Steps 1 and 3: no deliveries; the decision names the earlier lead."""
    profile = None if compiled is None else compiled.id
    if route is not None:
        route.ending = {
            "step": "duplicate",
            "duplicate_of": prior.lead_id,
            "at": _moment(prior.at),
            "why": why,
        }
    decision = Decision(lead_id, snapshot.version, profile, "duplicate", None, (), geo, route)
    decision.duplicate_of = prior.lead_id
    return decision


def _record(
    snapshot: Snapshot, compiled: CompiledProfile, decision: Decision, state: _State
) -> None:
    """Step 8 and the memories: the lead id, the person for the profile's duplicate check and
    for each partner's span, each delivery against its caps, and each delivery as sold (for a
    re-offer or a return to settle; see :mod:`processor.rules.settle`)."""
    ledger, when, again = state.ledger, state.when, state.reoffer
    if again is None:
        ledger.decide_lead(decision.lead_id, when, decision.outcome)
    if decision.outcome == "unroutable":
        return
    within = compiled.duplicates_ms
    if within is not None:
        ledger.profile_routed(compiled.id, state.people, decision.lead_id, when, within)
    keep = ledger.lead_memory_ms
    counted: dict[int, tuple[CompiledCap, int]] = {}
    # Every partner of this decision counts as offered: a strategy ``all`` lead given up by one
    # of them must not go to another that has it already.
    offered = tuple(
        dict.fromkeys(
            (*(again.offered if again else ()), *(d.partner for d in decision.deliveries))
        )
    )
    at = epoch_ms(when)
    for delivery in decision.deliveries:
        if delivery.assignment is None:
            target = compiled.fallback
            assert target is not None
            own = target.caps
        else:
            own = compiled.assignment(delivery.assignment).caps
        units = caps.count(own, ledger, state.windows, delivery.price, keep)
        counted.update((id(cap), (cap, unit.used)) for cap, unit in zip(own, units, strict=True))
        partner = snapshot.partner(delivery.partner)
        span = snapshot.avoid_ms(delivery.partner)
        if span is not None:
            ledger.partner_received(delivery.partner, state.people, decision.lead_id, when, span)
        ledger.sell(
            Sold(
                delivery.delivery_id,
                decision.lead_id,
                delivery.partner,
                compiled.id,
                delivery.price,
                delivery.currency,
                at,
                tuple((unit.key, unit.amount) for unit in units),
                offered,
                decision.attempt,
                lead=state.body if partner.policy.returns.reoffer else None,
            )
        )
    decision.counted = tuple(counted.values())


def _moment(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _open_at(
    matched: Sequence[CompiledAssignment], when: datetime | None
) -> tuple[Sequence[CompiledAssignment], Sequence[CompiledAssignment]]:
    """The matching assignments whose partner is open at the lead's time, and those closed.

    One pass, and one verdict per partner (its hours are shared by its assignments): the time
    zone conversion is the costly part, and a tier can match hundreds of one partner's
    assignments. Without a closed one, ``matched`` itself comes back."""
    verdicts: dict[int, bool] = {}
    closed: list[CompiledAssignment] = []
    for item in matched:
        hours = item.hours
        if hours is None:
            continue
        is_open = verdicts.get(id(hours))
        if is_open is None:
            is_open = verdicts[id(hours)] = hours.is_open(when)
        if not is_open:
            closed.append(item)
    if not closed:
        return matched, ()
    shut = {id(item) for item in closed}
    return [item for item in matched if id(item) not in shut], closed


def _first_located(
    sources: Sequence[GeoSource],
    geo: Geo | None,
    locate: Callable[[GeoSource], Geo | None] | None,
) -> Geo | None:
    """The lead's location from the first of ``sources`` that has one (step 5)."""
    for source in sources:
        if locate is not None:
            found = locate(source)
        else:
            found = geo if geo is not None and geo.source == source else None
        if found is not None:
            return found
    return None


def _unlocated(sources: Sequence[GeoSource], geo: Geo | None) -> str:
    """Why the nearest-store step changed nothing for a lead none of ``sources`` locates."""
    if geo is None:
        return "the lead has no geolocation; nothing changes"
    return f"the lead has no geolocation from {', '.join(sources)}; nothing changes"


def _routed(
    snapshot: Snapshot,
    compiled: CompiledProfile,
    tier: Tier,
    candidates: Sequence[CompiledAssignment],
    lead_id: str,
    geo: Geo | None,
    nearest: Nearest | None,
    state: _State,
    route: Route | None,
) -> Decision:
    profile, ledger = compiled.profile, state.ledger
    before = _rotation_before(compiled, candidates, ledger) if route is not None else None
    chosen = choose(compiled, candidates, ledger)
    replaces: Entry = {}
    if state.reoffer is not None and len(chosen) > 1:
        chosen = chosen[:1]
        replaces = {"one_delivery": "a re-offer replaces one delivery: the first chosen goes"}
    deliveries = tuple(
        Delivery(
            item.partner.id,
            item.id,
            item.price,
            profile.currency,
            nearest.distance_km
            if nearest is not None and nearest.partner == item.partner.id
            else _distance(geo, item.partner.location),
            delivery_id(lead_id, item.partner.id),
        )
        for item in chosen
    )
    if route is not None:
        route.strategy = {
            "step": "strategy",
            "strategy": profile.strategy,
            "candidates": [item.id for item in candidates],
            "chosen": [item.id for item in chosen],
            **(before or {}),
            **_left_out(compiled, candidates, chosen),
            **replaces,
        }
    return Decision(
        lead_id, snapshot.version, compiled.id, "routed", tier.kind, deliveries, geo, route
    )


def _rotation_before(
    compiled: CompiledProfile, candidates: Sequence[CompiledAssignment], ledger: Ledger
) -> Entry | None:
    """What a rotating strategy knew before choosing, for the trace: for round robin, the
    candidate partners from the least recently chosen (never chosen first)."""
    if compiled.profile.strategy == "round_robin":
        chosen = ledger.round_robin(compiled.id)
        partners = [item.partner.id for item in one_per_partner(candidates)]
        return {"least_recent_first": sorted(partners, key=lambda p: chosen.get(p, -1))}
    if compiled.profile.strategy == "weighted":
        scores = ledger.scores(compiled.id)
        return {"scores_before": {item.id: scores.get(item.id, 0) for item in candidates}}
    return None


def _left_out(
    compiled: CompiledProfile,
    candidates: Sequence[CompiledAssignment],
    chosen: Sequence[CompiledAssignment],
) -> Entry:
    """The candidate partners the ``all`` strategy did not sell to for ``max_partners``, for the
    trace."""
    limit = compiled.profile.max_partners
    if compiled.profile.strategy != "all" or limit is None:
        return {}
    left_out = [item.id for item in one_per_partner(candidates) if item not in chosen]
    if not left_out:
        return {}
    return {"max_partners": limit, "left_out": left_out}


def _fallback(
    snapshot: Snapshot,
    compiled: CompiledProfile,
    lead_id: str,
    geo: Geo | None,
    when: datetime,
    state: _State,
    route: Route | None,
) -> Decision:
    target = compiled.fallback
    offered = None if target is None else state.offered_before(target.partner.id)
    closed = (
        target is not None
        and offered is None
        and target.hours is not None
        and not target.hours.is_open(when)
    )
    capped = None
    if target is not None and offered is None and not closed and target.caps:
        capped = caps.full(target.caps, state.ledger, state.windows, target.price)
    if target is None or offered is not None or closed or capped is not None:
        if target is not None:
            kind: Exclusion = "offered" if offered else "closed" if closed else "capped"
            state.excluded.append((target.partner.id, kind))
        if route is not None:
            spec = compiled.profile.fallback
            why = "no tier has a candidate and the profile has no fallback"
            if target is not None and offered is not None:
                why = (
                    f"no tier has a candidate and fallback partner {target.partner.id!r}: "
                    + offered
                )
            elif target is not None and capped is not None:
                why = (
                    f"no tier has a candidate and fallback partner {target.partner.id!r} is "
                    + capped
                )
            elif target is not None and target.hours is not None:
                why = (
                    f"no tier has a candidate and fallback partner {target.partner.id!r} is "
                    + target.hours.why_closed(when)
                )
            elif spec is not None:
                why = f"no tier has a candidate and fallback partner {spec.partner!r} is inactive"
            route.ending = {"step": "unroutable", "why": why}
        return Decision(lead_id, snapshot.version, compiled.id, "unroutable", None, (), geo, route)
    delivery = Delivery(
        target.partner.id,
        None,
        target.price,
        compiled.profile.currency,
        _distance(geo, target.partner.location),
        delivery_id(lead_id, target.partner.id),
    )
    if route is not None:
        route.ending = {
            "step": "fallback",
            "partner": target.partner.id,
            "why": "no tier has a candidate",
        }
    return Decision(
        lead_id, snapshot.version, compiled.id, "fallback", "fallback", (delivery,), geo, route
    )


def _nearest(
    stores: StoreIndex,
    candidates: Sequence[CompiledAssignment],
    geo: Geo,
    max_km: float | None,
) -> tuple[Sequence[CompiledAssignment], Nearest]:
    """Step 5: only the nearest located partner's candidates, when any candidate is located;
    ``geo`` is the location the profile's sources trust most."""
    located = tuple(dict.fromkeys(c.partner.id for c in candidates if c.partner.id in stores))
    if not located:
        return candidates, Nearest(
            None, None, "no candidate's partner has a location; nothing changes"
        )
    found = stores.nearest(geo.lat, geo.lon, among=located, max_km=max_km)
    if found is None:
        why = "the lead's geolocation is not a valid point"
        if max_km is not None:
            why = f"every located candidate is farther than max_km ({max_km} km)"
        return (), Nearest(None, None, why, geo.source)
    partner, distance = found
    kept = [c for c in candidates if c.partner.id == partner]
    return kept, Nearest(partner, round(distance, DISTANCE_DECIMALS), None, geo.source)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _distance(geo: Geo | None, location: Location | None) -> float | None:
    """How far the lead is from a partner's store, when both are known."""
    if geo is None or location is None:
        return None
    return round(great_circle_km(geo.lat, geo.lon, location.lat, location.lon), DISTANCE_DECIMALS)
