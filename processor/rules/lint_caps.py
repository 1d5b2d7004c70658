"""Lint for caps that can never stop a delivery: another cap always stops it first, or nothing
it counts ever grows.

A cap binds only when it is the one that stops a delivery. Counts nest: an hour's deliveries are
among its day's, a day's among its ISO week's and its month's, and everything is among the total;
an assignment's deliveries are among its partner's. So a cap is never the one that stops anything
when a cap of the same unit over a window that holds its window, on the same partner or
assignment or on the assignment's partner, allows no more. An ISO week can straddle two months,
so neither of those windows holds the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from processor.rules.document import Assignment, Cap, CapPeriod, Partner, RulesDocument
from processor.rules.errors import Location, format_path
from processor.rules.findings import Finding, finding

_HOLDING: dict[CapPeriod, frozenset[CapPeriod]] = {
    "hour": frozenset({"hour", "day", "week", "month", "total"}),
    "day": frozenset({"day", "week", "month", "total"}),
    "week": frozenset({"week", "total"}),
    "month": frozenset({"month", "total"}),
    "total": frozenset({"total"}),
}
"""For each window, the windows any one of it lies inside."""

Placed = tuple[Location, Cap]
ByUnit = Mapping[str, Sequence[Placed]]
"""Caps with their paths by what they count. A valid owner has at most one cap per window and
unit, so each list is short however many caps (in however many currencies) the owner has."""


class CapLint:
    """Judges caps against the others: each partner's caps are grouped once, so that the caps of
    every assignment selling to it are compared with a handful of them."""

    def __init__(self, document: RulesDocument) -> None:
        self._prices: dict[str, list[float]] = {}
        """Every price each partner is sold at: its assignments' effective prices and the
        prices of the fallbacks naming it."""
        for profile in document.profiles:
            for assignment in profile.assignments:
                self._prices.setdefault(assignment.partner, []).append(profile.price_of(assignment))
            if profile.fallback is not None and profile.fallback_price is not None:
                self._prices.setdefault(profile.fallback.partner, []).append(profile.fallback_price)
        self._caps: dict[str, ByUnit] = {
            partner.id: _by_unit(_placed(("partners", i, "caps"), partner.caps))
            for i, partner in enumerate(document.partners)
            if partner.caps
        }

    def partner(self, partner: Partner, here: Location) -> Iterator[Finding]:
        """``here`` is the path of the partner's caps."""
        caps = _placed(here, partner.caps)
        yield from _stopped_first(caps, [self._caps.get(partner.id, {})])
        yield from _never_counting(
            caps,
            self._prices.get(partner.id, []),
            f"every price partner {partner.id!r} is sold at",
        )

    def assignment(self, assignment: Assignment, here: Location, price: float) -> Iterator[Finding]:
        """``here`` is the path of the assignment's caps, ``price`` its effective price."""
        caps = _placed(here, assignment.caps)
        yield from _stopped_first(caps, [_by_unit(caps), self._caps.get(assignment.partner, {})])
        yield from _never_counting(caps, [price], f"the price of assignment {assignment.id!r}")


def _placed(here: Location, caps: Sequence[Cap]) -> list[Placed]:
    return [((*here, k), cap) for k, cap in enumerate(caps)]


def _by_unit(caps: Sequence[Placed]) -> ByUnit:
    found: dict[str, list[Placed]] = {}
    for where, cap in caps:
        found.setdefault(cap.unit, []).append((where, cap))
    return found


def _stopped_first(caps: Sequence[Placed], holders: Sequence[ByUnit]) -> Iterator[Finding]:
    """Each of ``caps`` that one of the caps of ``holders`` (its owner's, its partner's) stops
    first."""
    for where, cap in caps:
        first = next(
            (
                (there, other)
                for holder in holders
                for there, other in holder.get(cap.unit, ())
                if there != where and other.per in _HOLDING[cap.per] and other.limit <= cap.limit
            ),
            None,
        )
        if first is not None:
            there, other = first
            yield finding(
                "cap-never-binds",
                where,
                f"the cap of {cap.summary} never stops a delivery: the cap of {other.summary} "
                f"at {format_path(there)} stops every delivery it would",
            )


def _never_counting(
    caps: Sequence[Placed], prices: Sequence[float], whose: str
) -> Iterator[Finding]:
    """Revenue caps over prices that are all 0 or less: the revenue they count never grows."""
    if not prices or any(price > 0 for price in prices):
        return
    for where, cap in caps:
        if cap.revenue is not None:
            yield finding(
                "cap-never-binds",
                where,
                f"the cap of {cap.summary} never stops a delivery: {whose} is 0 or less, so the "
                "revenue it counts never grows",
            )
