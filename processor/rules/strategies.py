"""The five strategies: which of a tier's candidates get the lead (contract section 5, step 4).

Candidates arrive in document order, so "ties go to document order" is "the first one wins".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from processor.rules.document import Strategy
from processor.rules.rotation import RotationState
from processor.rules.snapshot import CompiledAssignment, CompiledProfile

Candidates = Sequence[CompiledAssignment]


def _first_match(profile: CompiledProfile, candidates: Candidates, _: RotationState) -> Candidates:
    return candidates[:1]


def _round_robin(
    profile: CompiledProfile, candidates: Candidates, rotation: RotationState
) -> Candidates:
    """The first candidate after the one chosen last, wrapping around.

    An assignment chosen last that the rules no longer have counts as never chosen.
    """
    last = rotation.last_chosen(profile.id)
    after = -1 if last is None else profile.positions.get(last, -1)
    chosen = next((c for c in candidates if c.position > after), candidates[0])
    rotation.chose(profile.id, chosen.id)
    return (chosen,)


def _weighted(
    profile: CompiledProfile, candidates: Candidates, rotation: RotationState
) -> Candidates:
    """Smooth weighted round robin over this lead's candidates (nginx's algorithm)."""
    scores = rotation.scores(profile.id)
    best, best_score, total = candidates[0], 0, 0
    for candidate in candidates:
        score = scores.get(candidate.id, 0) + candidate.weight
        scores[candidate.id] = score
        total += candidate.weight
        if candidate is best or score > best_score:
            best, best_score = candidate, score
    scores[best.id] = best_score - total
    return (best,)


def _highest_price(
    profile: CompiledProfile, candidates: Candidates, _: RotationState
) -> Candidates:
    best = candidates[0]
    for candidate in candidates:
        if candidate.price > best.price:
            best = candidate
    return (best,)


def one_per_partner(candidates: Candidates) -> Candidates:
    """Each candidate partner's first matching assignment, in document order."""
    firsts: dict[str, CompiledAssignment] = {}
    for candidate in candidates:
        firsts.setdefault(candidate.partner.id, candidate)
    return tuple(firsts.values())


def _all(profile: CompiledProfile, candidates: Candidates, _: RotationState) -> Candidates:
    """Every candidate partner, by its first matching assignment, in document order; with
    ``max_partners``, only that many of them: the highest prices, ties to document order."""
    chosen = one_per_partner(candidates)
    limit = profile.profile.max_partners
    if limit is None or len(chosen) <= limit:
        return chosen
    kept = set(sorted(chosen, key=lambda c: -c.price)[:limit])
    return tuple(c for c in chosen if c in kept)


STRATEGIES: Mapping[Strategy, Callable[[CompiledProfile, Candidates, RotationState], Candidates]]
STRATEGIES = {
    "first_match": _first_match,
    "round_robin": _round_robin,
    "weighted": _weighted,
    "highest_price": _highest_price,
    "all": _all,
}


def choose(profile: CompiledProfile, candidates: Candidates, rotation: RotationState) -> Candidates:
    """The chosen assignments among a non-empty list of candidates, updating ``rotation``."""
    return STRATEGIES[profile.profile.strategy](profile, candidates, rotation)
