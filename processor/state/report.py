"""What ``state show`` reports: each cap's use in its window, and each profile's rotation.

The report reads the rules in force (a compiled :class:`Snapshot`) against routing's memory (one
:class:`Ledger` per state partition) at one moment, so an operator sees what routing would see for
a lead of that time: how much of each cap is used and left, when its window resets in the
partner's time zone, which partner round robin picks next, and the weighted scores. Before the
decide stage, each input partition kept a ledger of its own: cap use is then summed over them, and
rotation is shown as the lowest partition holding it keeps it.

Person digests are never part of a report: only caps and rotation are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processor.rules.caps import CompiledCap, Windows
from processor.rules.ledger import SEP, Ledger
from processor.rules.snapshot import CompiledProfile, Snapshot
from processor.rules.strategies import one_per_partner
from processor.wire.lead_json import format_timestamp


class UnknownId(ValueError):
    """A partner or profile asked about that the rules in force do not have."""


@dataclass(frozen=True, slots=True)
class CapUse:
    """One cap in the window a moment falls in: use and limit in leads or currency units."""

    scope: str
    per: str
    unit: str
    """``leads``, or ``revenue <currency>``."""
    currency: str | None
    window: str
    used: float
    limit: float
    resets: datetime | None
    """When the window ends, in the partner's time zone; None for ``total``."""

    @property
    def left(self) -> float:
        return max(0.0, self.limit - self.used)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "per": self.per,
            "unit": self.unit,
            "currency": self.currency,
            "window": self.window,
            "used": self.used,
            "limit": self.limit,
            "left": self.left,
            "resets_at": None if self.resets is None else self.resets.isoformat(),
        }


def cap_use(compiled: CompiledCap, ledgers: Sequence[Ledger], windows: Windows) -> CapUse:
    """The use of ``compiled`` in its window of ``windows``' moment, summed over ``ledgers``."""
    key, ends = compiled.window(windows)
    cap = compiled.cap
    used, limit = compiled.in_units(sum(ledger.cap_used(key) for ledger in ledgers))
    return CapUse(
        scope=compiled.scope,
        per=cap.per,
        unit=cap.unit,
        currency=cap.currency,
        window=key.rsplit(SEP, 1)[-1].decode(),
        used=used,
        limit=limit,
        resets=None if ends is None else ends.astimezone(compiled.zone),
    )


@dataclass(frozen=True, slots=True)
class PartnerCaps:
    partner: str
    timezone: str
    caps: tuple[CapUse, ...]


@dataclass(frozen=True, slots=True)
class AssignmentCaps:
    profile: str
    assignment: str
    partner: str
    caps: tuple[CapUse, ...]
    """The assignment's own caps; its partner's are under the partner."""


@dataclass(frozen=True, slots=True)
class Turn:
    """A partner's place in a round robin: ``choices_ago`` is 0 for the partner chosen last, 1
    for the one before, None for a partner never chosen (first in line)."""

    partner: str
    choices_ago: int | None


@dataclass(frozen=True, slots=True)
class ProfileState:
    profile: str
    strategy: str
    rotation: tuple[Turn, ...] | None
    """For ``round_robin``: next in line first."""
    scores: tuple[tuple[str, int], ...] | None
    """For ``weighted``: each assignment's running score, in document order."""


@dataclass(frozen=True, slots=True)
class StateReport:
    at: datetime
    rules_version: str
    partners: tuple[PartnerCaps, ...]
    assignments: tuple[AssignmentCaps, ...]
    profiles: tuple[ProfileState, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with stable keys (``state show --format json``)."""
        return {
            "at": format_timestamp(self.at),
            "rules_version": self.rules_version,
            "partners": [
                {
                    "partner": p.partner,
                    "timezone": p.timezone,
                    "caps": [c.as_dict() for c in p.caps],
                }
                for p in self.partners
            ],
            "assignments": [
                {
                    "profile": a.profile,
                    "assignment": a.assignment,
                    "partner": a.partner,
                    "caps": [c.as_dict() for c in a.caps],
                }
                for a in self.assignments
            ],
            "profiles": [
                {
                    "profile": p.profile,
                    "strategy": p.strategy,
                    "rotation": None
                    if p.rotation is None
                    else [{"partner": t.partner, "choices_ago": t.choices_ago} for t in p.rotation],
                    "scores": None if p.scores is None else dict(p.scores),
                }
                for p in self.profiles
            ],
        }


def state_report(
    snapshot: Snapshot,
    ledgers: Sequence[Ledger],
    at: datetime,
    *,
    partner: str | None = None,
    profile: str | None = None,
) -> StateReport:
    """The report at ``at``, of every partner and profile, or only of ``partner`` (its caps, its
    assignments, the profiles that sell to it) and ``profile`` (its assignments and rotation, the
    partners it sells to). Raises :class:`UnknownId` for an id the rules do not have."""
    if partner is not None and partner not in snapshot.partner_ids():
        raise UnknownId(f"rules version {snapshot.version} has no partner {partner!r}")
    profiles = [p for p in snapshot.profiles if profile is None or p.id == profile]
    if not profiles:
        raise UnknownId(f"rules version {snapshot.version} has no profile {profile!r}")
    if partner is not None:
        profiles = [p for p in profiles if partner in _partners_of(p)]
    partners = [
        p
        for p in snapshot.partner_ids()
        if (partner is None or p == partner)
        and (profile is None or any(p in _partners_of(c) for c in profiles))
    ]
    windows = Windows(at)
    return StateReport(
        at=at,
        rules_version=snapshot.version,
        partners=tuple(
            PartnerCaps(
                p,
                snapshot.partner(p).zone,
                tuple(cap_use(c, ledgers, windows) for c in snapshot.caps(p)),
            )
            for p in partners
        ),
        assignments=tuple(
            AssignmentCaps(
                compiled.id,
                item.id,
                item.partner.id,
                tuple(
                    cap_use(c, ledgers, windows)
                    for c in item.caps
                    if c.scope.startswith("assignment/")
                ),
            )
            for compiled in profiles
            for item in compiled.by_id.values()
            if partner is None or item.partner.id == partner
        ),
        profiles=tuple(_profile_state(compiled, ledgers) for compiled in profiles),
    )


def _partners_of(compiled: CompiledProfile) -> list[str]:
    """The partners a profile can sell to: its assignments' in document order, then fallback."""
    named = [item.partner.id for item in compiled.by_id.values()]
    if compiled.profile.fallback is not None:
        named.append(compiled.profile.fallback.partner)
    return list(dict.fromkeys(named))


def _profile_state(compiled: CompiledProfile, ledgers: Sequence[Ledger]) -> ProfileState:
    strategy = compiled.profile.strategy
    rotation: tuple[Turn, ...] | None = None
    scores: tuple[tuple[str, int], ...] | None = None
    if strategy == "round_robin":
        chosen = next(
            (found for ledger in ledgers if (found := ledger.round_robin(compiled.id))), {}
        )
        # Inactive partners are never candidates, so never in line.
        active = tuple(item for item in compiled.by_id.values() if item.partner.active)
        partners = [item.partner.id for item in one_per_partner(active)]
        latest = max(chosen.values(), default=0)
        rotation = tuple(
            Turn(p, None if p not in chosen else latest - chosen[p])
            for p in sorted(partners, key=lambda p: chosen.get(p, -1))
        )
    elif strategy == "weighted":
        found = next((held for ledger in ledgers if (held := ledger.scores(compiled.id))), {})
        scores = tuple((item.id, found.get(item.id, 0)) for item in compiled.by_id.values())
    return ProfileState(compiled.id, strategy, rotation, scores)
