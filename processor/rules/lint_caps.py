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

from collections.abc import Iterator, Sequence

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


def prices_by_partner(document: RulesDocument) -> dict[str, list[float]]:
    """Every price each partner is sold at: its assignments' effective prices and the prices of
    the fallbacks naming it."""
    prices: dict[str, list[float]] = {}
    for profile in document.profiles:
        for assignment in profile.assignments:
            prices.setdefault(assignment.partner, []).append(profile.price_of(assignment))
        if profile.fallback is not None and profile.fallback_price is not None:
            prices.setdefault(profile.fallback.partner, []).append(profile.fallback_price)
    return prices


def partner_cap_findings(
    partner: Partner, here: Location, prices: Sequence[float]
) -> Iterator[Finding]:
    """``prices`` are every price the partner is sold at (see :func:`prices_by_partner`)."""
    caps = _placed(here, partner.caps)
    yield from _stopped_first(caps, caps)
    yield from _never_counting(caps, prices, f"every price partner {partner.id!r} is sold at")


def assignment_cap_findings(
    assignment: Assignment,
    here: Location,
    price: float,
    partner: Partner,
    partner_here: Location,
) -> Iterator[Finding]:
    """``price`` is the assignment's effective price; ``partner_here`` its partner's caps' path."""
    caps = _placed(here, assignment.caps)
    yield from _stopped_first(caps, [*caps, *_placed(partner_here, partner.caps)])
    yield from _never_counting(caps, [price], f"the price of assignment {assignment.id!r}")


def _placed(here: Location, caps: Sequence[Cap]) -> list[Placed]:
    return [((*here, k), cap) for k, cap in enumerate(caps)]


def _stopped_first(caps: Sequence[Placed], others: Sequence[Placed]) -> Iterator[Finding]:
    for where, cap in caps:
        first = next(
            (
                (there, other)
                for there, other in others
                if there != where
                and other.unit == cap.unit
                and other.per in _HOLDING[cap.per]
                and other.limit <= cap.limit
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
