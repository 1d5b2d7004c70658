"""Turns raw data (parsed YAML or JSON, or reassembled parts) into a valid :class:`RulesDocument`.

Validation is one pass with two sources of errors, reported together in document order: the
models' own checks (structure, values, references, see :mod:`processor.rules.document`) and the
checks that span the document (unique ids, one default profile, each site in one profile, caps
that repeat one another or count another currency than their prices) or the keys of a mapping (a
schedule's day keys that cover the same day), which read the raw data so they are reported even
when other parts of it are malformed. Before both, the
data is held to the document limits (:mod:`processor.rules.limits`), so nothing oversized reaches
the models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import islice
from typing import Any

from pydantic import ValidationError

from processor.rules.document import Cap, Declarations, RulesDocument
from processor.rules.errors import Location, RuleError, RulesInvalid, format_path
from processor.rules.limits import DEFAULT_LIMITS, RulesLimits, index_problem, shape_problems
from processor.rules.schedule import overlapping_days
from processor.rules.values import fold

_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "model_type": "should be a mapping",
    "model_attributes_type": "should be a mapping",
    "dict_type": "should be a mapping",
    "list_type": "should be a list",
    "tuple_type": "should be a list",
}
"""Pydantic's wording where it names Python types; every other message is kept as it is."""

Problem = tuple[Location, str]


def validate_document(raw: object, limits: RulesLimits = DEFAULT_LIMITS) -> RulesDocument:
    """The valid document ``raw`` describes, or :class:`RulesInvalid` listing every problem."""
    if not isinstance(raw, Mapping):
        raise RulesInvalid(
            [RuleError("<document>", "a rules document is a mapping of fields, partners, profiles")]
        )
    too_large = shape_problems(raw, limits)
    if too_large:
        raise RulesInvalid(too_large)
    problems: list[Problem] = []
    document = None
    try:
        document = RulesDocument.model_validate(raw, context={"declarations": _declarations(raw)})
    except ValidationError as invalid:
        problems.extend(
            (item["loc"], _message(raw, item["loc"], item["type"], item["msg"], item.get("ctx")))
            for item in invalid.errors(include_url=False)
        )
    problems.extend(_uniqueness_problems(raw))
    problems.extend(_schedule_problems(raw))
    problems.extend(_cap_problems(raw))
    if problems or document is None:
        problems.sort(key=lambda problem: _position(raw, problem[0]))
        raise RulesInvalid(RuleError(format_path(where), message) for where, message in problems)
    too_costly = index_problem(document, limits)
    if too_costly is not None:
        raise RulesInvalid([too_costly])
    return document


def _message(
    raw: object, where: Location, kind: str, message: str, ctx: Mapping[str, Any] | None
) -> str:
    """Pydantic's message in the document's words; a filter written as one list of conditions
    (``filter: [{...}]``, the commonest slip) is told how to write it."""
    if kind == "too_long" and ctx is not None:
        return f"at most {ctx['max_length']} items, not {ctx['actual_length']}"
    if (
        kind in ("tuple_type", "list_type")
        and _is_or_set(where)
        and isinstance(_at(raw, where), Mapping)
    ):
        return (
            "should be a list of conditions, not one: a filter is a list of OR-sets, each a list "
            "of conditions, so write filter: [[{...}]]"
        )
    return _MESSAGES.get(kind, message)


def _is_or_set(where: Location) -> bool:
    return len(where) >= 2 and where[-2] == "filter" and isinstance(where[-1], int)


def _at(raw: object, where: Location) -> object:
    """The raw value at ``where``, or None when the path does not lead to one."""
    node = raw
    for part in where:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _position(raw: object, where: Location) -> tuple[int, ...]:
    """Where ``where`` is in the document as written, to list errors top to bottom."""
    position = []
    node = raw
    for part in where:
        if isinstance(node, Mapping):
            keys = list(node)
            position.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list | tuple) and isinstance(part, int) and part < len(node):
            position.append(part)
            node = node[part]
        else:
            position.append(0)
            node = None
    return tuple(position)


def _items(raw: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The mappings in list ``raw[key]`` with their positions; anything malformed is skipped."""
    value = raw.get(key)
    if not isinstance(value, list | tuple):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _declarations(raw: Mapping[str, Any]) -> Declarations:
    partners = frozenset(
        item["id"] for _, item in _items(raw, "partners") if isinstance(item.get("id"), str)
    )
    fields = raw.get("fields")
    custom: dict[str, bool] = {}
    if isinstance(fields, Mapping):
        for name, definition in fields.items():
            if isinstance(name, str):
                custom[name] = (
                    isinstance(definition, Mapping) and definition.get("encrypted") is True
                )
    return Declarations(partners, custom)


class _FirstSeen:
    """Remembers where each name was first declared, to point duplicates at both places."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._seen: dict[str, Location] = {}

    def check(self, name: object, key: str, where: Location) -> Problem | None:
        if not isinstance(name, str):
            return None
        first = self._seen.setdefault(key, where)
        if first is where:
            return None
        return where, f"duplicate {self._what} {name!r} (first at {format_path(first)})"


def _uniqueness_problems(raw: Mapping[str, Any]) -> list[Problem]:
    found: list[Problem | None] = []
    partners = _FirstSeen("partner id")
    for i, partner in _items(raw, "partners"):
        found.append(
            partners.check(partner.get("id"), str(partner.get("id")), ("partners", i, "id"))
        )
    profiles = _FirstSeen("profile id")
    sites = _FirstSeen("source")
    default_at: Location | None = None
    for i, profile in _items(raw, "profiles"):
        found.append(
            profiles.check(profile.get("id"), str(profile.get("id")), ("profiles", i, "id"))
        )
        if profile.get("default") is True:
            if default_at is None:
                default_at = ("profiles", i)
            else:
                found.append(
                    (
                        ("profiles", i, "default"),
                        f"more than one default profile ({format_path(default_at)} is one already)",
                    )
                )
        sources = profile.get("sources")
        for j, site in enumerate(sources if isinstance(sources, list | tuple) else ()):
            if isinstance(site, str):
                found.append(sites.check(site, fold(site), ("profiles", i, "sources", j)))
        assignments = _FirstSeen("assignment id")
        for j, assignment in _items(profile, "assignments"):
            name = assignment.get("id")
            where = ("profiles", i, "assignments", j, "id")
            found.append(assignments.check(name, str(name), where))
    return [problem for problem in found if problem is not None]


def _schedule_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Day keys of one schedule that cover the same day: which hours hold would be a guess."""
    found: list[Problem] = []
    for i, partner in _items(raw, "partners"):
        schedule = partner.get("schedule")
        if not isinstance(schedule, Mapping):
            continue
        keys = [key for key in schedule if isinstance(key, str)]
        for key, earlier, day in overlapping_days(keys):
            found.append(
                (
                    ("partners", i, "schedule", key),
                    f"{key!r} covers {day}, which {earlier!r} covers already: give each day "
                    "its hours once",
                )
            )
    return found


def _cap_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Two caps of one partner or assignment that count the same thing in the same window (which
    holds would be a guess), and revenue caps in another currency than the prices they count."""
    found: list[Problem] = []
    sellers = _sellers(raw)
    for i, partner in _items(raw, "partners"):
        caps = _caps(partner, ("partners", i, "caps"))
        found.extend(_repeated(caps))
        partner_id = partner.get("id")
        selling = sellers.get(partner_id, []) if isinstance(partner_id, str) else []
        counts = Counter(currency for _, currency in selling)
        said: dict[str, str | None] = {}
        for where, cap in caps:
            if cap.currency is None:
                continue
            if cap.currency not in said:
                said[cap.currency] = _other_currency(cap.currency, partner_id, selling, counts)
            message = said[cap.currency]
            if message is not None:
                found.append((where, message))
    for i, profile in _items(raw, "profiles"):
        currency = _currency(profile)
        for j, assignment in _items(profile, "assignments"):
            caps = _caps(assignment, ("profiles", i, "assignments", j, "caps"))
            found.extend(_repeated(caps))
            for where, cap in caps:
                if cap.currency is not None and currency is not None and cap.currency != currency:
                    found.append(
                        (
                            where,
                            f"a revenue cap in {cap.currency} counts prices in {cap.currency}, "
                            f"but profile {profile.get('id')!r} prices in {currency}: write the "
                            f"cap in {currency}",
                        )
                    )
    return found


def _caps(owner: Mapping[str, Any], here: Location) -> list[tuple[Location, Cap]]:
    """The caps of a partner or assignment that the model accepts, with their paths; the model
    reports the others."""
    value = owner.get("caps")
    found: list[tuple[Location, Cap]] = []
    for k, item in enumerate(value if isinstance(value, list | tuple) else ()):
        try:
            found.append(((*here, k), Cap.model_validate(item)))
        except ValidationError:
            continue
    return found


def _repeated(caps: list[tuple[Location, Cap]]) -> list[Problem]:
    first: dict[tuple[str, str], Location] = {}
    found: list[Problem] = []
    for where, cap in caps:
        seen = first.setdefault((cap.per, cap.unit), where)
        if seen is not where:
            what = "leads" if cap.leads is not None else f"revenue in {cap.currency}"
            found.append(
                (
                    where,
                    f"a second cap of {what} {cap.window} (first at {format_path(seen)}): which "
                    "holds would be a guess; keep one",
                )
            )
    return found


def _currency(profile: Mapping[str, Any]) -> str | None:
    """The profile's currency as written, or None when it is no text (the model reports that)."""
    currency = profile.get("currency", "USD")
    return currency if isinstance(currency, str) else None


def _sellers(raw: Mapping[str, Any]) -> dict[str, list[tuple[object, str]]]:
    """For each partner id, the profiles that sell to it (an assignment or the fallback names
    it) with their currencies, in document order."""
    found: dict[str, list[tuple[object, str]]] = {}
    for _, profile in _items(raw, "profiles"):
        currency = _currency(profile)
        if currency is None:
            continue
        fallback = profile.get("fallback")
        named = [assignment.get("partner") for _, assignment in _items(profile, "assignments")]
        named.append(fallback.get("partner") if isinstance(fallback, Mapping) else fallback)
        for partner in dict.fromkeys(name for name in named if isinstance(name, str)):
            found.setdefault(partner, []).append((profile.get("id"), currency))
    return found


_NAMED = 3
"""How many profiles a currency error names; the rest are counted."""


def _other_currency(
    cap: str, partner: object, selling: list[tuple[object, str]], counts: Counter[str]
) -> str | None:
    """What is wrong with a revenue cap in ``cap`` on a partner that ``selling`` prices, if
    anything. A partner's caps are judged once per currency, and each judgement skips only the
    profiles in that currency, so all of them together read ``selling`` about once."""
    others = len(selling) - counts[cap]
    if not others:
        return None
    priced = islice(((name, currency) for name, currency in selling if currency != cap), _NAMED)
    named = ", ".join(f"{name!r} in {currency}" for name, currency in priced)
    more = f" and {others - _NAMED} more" if others > _NAMED else ""
    profiles = "profile" if others == 1 else "profiles"
    return (
        f"a revenue cap in {cap} counts prices in {cap}, but partner {partner!r} is priced by "
        f"{profiles} {named}{more}: price the partner in one currency, or cap its leads"
    )
