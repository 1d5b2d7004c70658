"""What differs between two rules documents: entities added, removed, moved, and each field changed.

Both sides are taken as their parts (:func:`processor.rules.parts.document_to_parts`), so that a
document read from a file and one read from the history compare alike: defaults filled in, one
spelling per value. Entities are matched by id (partners, profiles), by profile and id
(assignments) and by name (custom fields), never by position; the order of partners and profiles
means nothing (the history keeps parts by key), but the order of a profile's assignments decides
``first_match`` and ties, so an assignment that moved is a change. Values in the text are bounded:
a whole filter of a thousand conditions is summarised, not printed.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from processor.rules.parts import FIELDS_KEY, PARTNER_PREFIX, PROFILE_PREFIX

Kind = Literal["added", "removed", "changed", "moved"]
Category = Literal["field", "partner", "profile", "assignment"]

CATEGORIES: tuple[Category, ...] = ("field", "partner", "profile", "assignment")

MAX_SHOWN = 120
"""The most characters of one value the text shows; longer ones are cut and their length said."""

_SIGNS: dict[Kind, str] = {"added": "+", "removed": "-", "changed": "~", "moved": "~"}


class _Absent:
    """A field one side does not have (as opposed to one it has as null)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Change:
    """One difference: an entity added or removed, a field of it changed, or an assignment moved.

    ``path`` names the field within the entity (``price``, ``filter[1][0].value``,
    ``schedule.mon-fri``); for a move, ``old`` and ``new`` are positions counted from 1.
    """

    kind: Kind
    category: Category
    entity: str
    path: str = ""
    old: Any = ABSENT
    new: Any = ABSENT

    def __str__(self) -> str:
        sign = _SIGNS[self.kind]
        if self.kind == "moved":
            return f"{sign} {self.entity}: moved from position {self.old} to {self.new}"
        if self.kind == "changed":
            return f"{sign} {self.entity}: {self.path} {shown(self.old)} -> {shown(self.new)}"
        return f"{sign} {self.entity}"

    def as_dict(self) -> dict[str, Any]:
        """The change for programs: whole values, null for a side that has none."""
        return {
            "kind": self.kind,
            "category": self.category,
            "entity": self.entity,
            "path": self.path or None,
            "old": None if self.old is ABSENT else self.old,
            "new": None if self.new is ABSENT else self.new,
        }


def diff_parts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every difference from ``old`` to ``new`` (documents as parts by key): custom fields,
    partners, profiles, then each profile's assignments."""
    changes = list(_entities("field", old.get(FIELDS_KEY, {}), new.get(FIELDS_KEY, {})))
    changes.extend(_entities("partner", _by_id(old, PARTNER_PREFIX), _by_id(new, PARTNER_PREFIX)))
    changes.extend(_entities("profile", _by_id(old, PROFILE_PREFIX), _by_id(new, PROFILE_PREFIX)))
    for key in sorted(set(old) | set(new)):
        if key.startswith(PROFILE_PREFIX) and key in old and key in new:
            profile = key.removeprefix(PROFILE_PREFIX)
            changes.extend(
                _assignments(
                    f"profile {profile}",
                    old[key].get("assignments", []),
                    new[key].get("assignments", []),
                )
            )
    return changes


def summary(changes: Sequence[Change]) -> str:
    """The changes counted by entity: ``+1 partner, ~1 profile, -1 assignment``; a profile whose
    assignments changed but not its own fields counts under assignments only."""
    counted: dict[tuple[str, Category], set[str]] = {}
    for change in changes:
        counted.setdefault((_SIGNS[change.kind], change.category), set()).add(change.entity)
    words = [
        f"{sign}{len(entities)} {category}{'' if len(entities) == 1 else 's'}"
        for category in CATEGORIES
        for sign in "+~-"
        if (entities := counted.get((sign, category)))
    ]
    return ", ".join(words) if words else "no changes"


def shown(value: Any) -> str:
    """A value as the text shows it: JSON (whole numbers without ``.0``), at most
    :data:`MAX_SHOWN` characters."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = json.dumps(value, separators=(", ", ": "))
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 20]}... ({len(text):,} characters)"


def _by_id(parts: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        key.removeprefix(prefix): value for key, value in parts.items() if key.startswith(prefix)
    }


def _entities(
    category: Category, old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[Change]:
    """Entities of one kind by id: removed, added, then the fields changed of those in both
    (a profile's assignments are compared on their own)."""
    for key in sorted(set(old) - set(new)):
        yield Change("removed", category, f"{category} {key}", old=old[key])
    for key in sorted(set(new) - set(old)):
        yield Change("added", category, f"{category} {key}", new=new[key])
    for key in sorted(set(old) & set(new)):
        before, after = old[key], new[key]
        if category == "profile":
            before = {k: v for k, v in before.items() if k != "assignments"}
            after = {k: v for k, v in after.items() if k != "assignments"}
        for path, was, now in _values("", before, after):
            yield Change("changed", category, f"{category} {key}", path, was, now)


def _assignments(
    profile: str, old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> Iterator[Change]:
    """A profile's assignments by id: removed, added, moved (their order decides), changed."""
    before = {item["id"]: (place, item) for place, item in enumerate(old)}
    after = {item["id"]: (place, item) for place, item in enumerate(new)}
    for item in old:
        if item["id"] not in after:
            yield Change("removed", "assignment", f"{profile} / assignment {item['id']}", old=item)
    stayed = _in_order([after[item["id"]][0] for item in old if item["id"] in after])
    for place, item in enumerate(new):
        entity = f"{profile} / assignment {item['id']}"
        if item["id"] not in before:
            yield Change("added", "assignment", entity, new=item)
            continue
        was_at, was = before[item["id"]]
        if place not in stayed:
            yield Change("moved", "assignment", entity, old=was_at + 1, new=place + 1)
        for path, value, now in _values("", was, item):
            yield Change("changed", "assignment", entity, path, value, now)


def _in_order(places: Sequence[int]) -> set[int]:
    """The most of ``places`` (new positions, in old order) that kept their relative order: a
    longest increasing subsequence. The others are the ones that moved, so one assignment moved
    to the top is one move, not every other one moving down."""
    tails: list[int] = []  # tails[k]: index in places of the least end of a run of length k+1
    ends: list[int] = []  # ends[k]: places[tails[k]], increasing, for the binary search
    links: list[int | None] = []
    for index, place in enumerate(places):
        length = bisect_left(ends, place)
        links.append(tails[length - 1] if length else None)
        if length == len(tails):
            tails.append(index)
            ends.append(place)
        else:
            tails[length] = index
            ends[length] = place
    kept: set[int] = set()
    at = tails[-1] if tails else None
    while at is not None:
        kept.add(places[at])
        at = links[at]
    return kept


def _values(path: str, old: Any, new: Any) -> Iterator[tuple[str, Any, Any]]:
    """Each field that differs, as deep as both sides have the same shape: into mappings by key
    and into lists of equal length by position; a list that grew or shrank is one change."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            inner = f"{path}.{key}" if path else str(key)
            yield from _values(inner, old.get(key, ABSENT), new.get(key, ABSENT))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (was, now) in enumerate(zip(old, new, strict=True)):
            yield from _values(f"{path}[{index}]", was, now)
    elif _text(old) != _text(new):
        yield path, old, new


def _text(value: Any) -> str:
    """A value compared by its JSON: ``True`` and ``1``, or ``1`` and ``1.0``, are not the same
    value in a rules document even though Python finds them equal."""
    if value is ABSENT:
        return ""
    return json.dumps(value, sort_keys=True)
