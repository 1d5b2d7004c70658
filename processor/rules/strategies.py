"""The five strategies: which of a tier's candidates get the lead (contract section 5, step 4).

Candidates arrive in document order, so "ties go to document order" is "the first one wins".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from processor.rules.document import Strategy
from processor.rules.ledger import Ledger
from processor.rules.snapshot import CompiledAssignment, CompiledProfile

Candidates = Sequence[CompiledAssignment]


def _first_match(profile: CompiledProfile, candidates: Candidates, _: Ledger) -> Candidates:
    return candidates[:1]


def _round_robin(profile: CompiledProfile, candidates: Candidates, ledger: Ledger) -> Candidates:
    """The first candidate of the partner this profile chose least recently (partners never
    chosen first, in document order): rotation is over partners, so a partner listed in several
    assignments gets no larger share."""
    firsts = {c.partner.id: c for c in one_per_partner(candidates)}
    partner = ledger.least_recent(profile.id, list(firsts))
    ledger.chose(profile.id, partner)
    return (firsts[partner],)


def _weighted(profile: CompiledProfile, candidates: Candidates, ledger: Ledger) -> Candidates:
    """Smooth weighted round robin over this lead's candidates (nginx's algorithm)."""
    scores = ledger.scores(profile.id)
    best, best_score, total = candidates[0], 0, 0
    for candidate in candidates:
        score = scores.get(candidate.id, 0) + candidate.weight
        scores[candidate.id] = score
        total += candidate.weight
        if candidate is best or score > best_score:
            best, best_score = candidate, score
    scores[best.id] = best_score - total
    ledger.set_scores(profile.id, scores)
    return (best,)


def _highest_price(profile: CompiledProfile, candidates: Candidates, _: Ledger) -> Candidates:
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


def _all(profile: CompiledProfile, candidates: Candidates, _: Ledger) -> Candidates:
    """Every candidate partner, by its first matching assignment, in document order; with
    ``max_partners``, only that many of them: the highest prices, ties to document order."""
    chosen = one_per_partner(candidates)
    limit = profile.profile.max_partners
    if limit is None or len(chosen) <= limit:
        return chosen
    kept = set(sorted(chosen, key=lambda c: -c.price)[:limit])
    return tuple(c for c in chosen if c in kept)


STRATEGIES: Mapping[Strategy, Callable[[CompiledProfile, Candidates, Ledger], Candidates]]
STRATEGIES = {
    "first_match": _first_match,
    "round_robin": _round_robin,
    "weighted": _weighted,
    "highest_price": _highest_price,
    "all": _all,
}


def choose(profile: CompiledProfile, candidates: Candidates, ledger: Ledger) -> Candidates:
    """The chosen assignments among a non-empty list of candidates, updating the rotation."""
    return STRATEGIES[profile.profile.strategy](profile, candidates, ledger)
