"""What a condition can name, and how those values are read from a lead once per lead.

A field path (``address.state``, ``geo.city``, ``budget``) is resolved when the document is
validated, so a typo is an error with its path rather than a condition that silently never holds.
At compile time every distinct field the rules use gets a *slot*; routing a lead reads each slot
once into a :class:`LeadView`, which every condition then indexes, so nothing is looked up twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from processor.geometry.geo import Geo
from processor.rules.values import Key, display_text, folded_text, keys

TOP_LEVEL = ("site_id", "interest_category", "offer_id", "comments")
SECTIONS: Mapping[str, tuple[str, ...]] = {
    "contact": ("first_name", "last_name", "email", "phone"),
    "address": ("street", "city", "state", "postcode", "country"),
    "vehicle": ("year", "make", "model", "trim", "vin", "stock", "condition"),
    "geo": ("country", "region", "city", "postcode", "lat", "lon"),
}
CUSTOM = "fields"
GEO = "geo"
"""The lead's whole geolocation: the one field ``within_km`` takes, and the only one it takes."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A resolved field path: ``section`` is None for a top-level field, ``fields`` for custom ones.

    ``budget`` and ``fields.budget`` resolve to the same reference and so share one slot.
    """

    section: str | None
    key: str | None

    @property
    def custom_name(self) -> str | None:
        """The custom field's name, or None for a built-in field."""
        return self.key if self.section == CUSTOM else None


def parse_field(path: str) -> FieldRef | str:
    """The field ``path`` names, or a message saying why it names none."""
    if path in TOP_LEVEL:
        return FieldRef(None, path)
    if path == GEO:
        return FieldRef(GEO, None)
    head, dot, tail = path.partition(".")
    if not dot:
        return FieldRef(CUSTOM, path) if path.strip() == path and path else _bad(path)
    if head == CUSTOM:
        return FieldRef(CUSTOM, tail) if tail else _bad(path)
    known = SECTIONS.get(head)
    if known is None:
        return _bad(path)
    if tail not in known:
        return f"unknown field {path!r}: {head} has {', '.join(known)}"
    return FieldRef(head, tail)


def _bad(path: str) -> str:
    sections = ", ".join(f"{name}.<x>" for name in SECTIONS)
    return (
        f"unknown field {path!r}: use {', '.join(TOP_LEVEL)}, {sections}, or a custom field "
        "by bare name or as fields.<name>"
    )


class LeadView:
    """One lead's values for the slots a snapshot uses, read once and keyed once.

    ``values`` holds the lead's values as given (for text operators and traces), ``keys`` their
    comparison keys (see :mod:`processor.rules.values`); texts are folded only when asked for.
    """

    __slots__ = ("_folded", "geo", "keys", "values")

    def __init__(self, values: list[object], geo: Geo | None) -> None:
        self.values = values
        self.keys: list[Key] = keys(values)
        self.geo = geo
        self._folded: dict[int, str | None] | None = None

    def folded(self, slot: int) -> str | None:
        """The case-folded text of a slot's value, computed at most once per lead."""
        folded = self._folded
        if folded is None:
            folded = self._folded = {}
        elif slot in folded:
            return folded[slot]
        text = folded[slot] = folded_text(self.values[slot])
        return text

    def text(self, slot: int) -> str | None:
        """The slot's value as text with its case kept, for ``matches``."""
        return display_text(self.values[slot])


class LeadReader:
    """Reads a snapshot's slots out of a lead: each section mapping is fetched once per lead."""

    __slots__ = ("_geo", "_sections", "_size", "_top")

    def __init__(self, slots: Sequence[FieldRef]) -> None:
        self._size = len(slots)
        self._top: list[tuple[int, str]] = []
        sections: dict[str, list[tuple[int, str]]] = {}
        self._geo: list[tuple[int, str | None]] = []
        for slot, ref in enumerate(slots):
            if ref.section is None:
                self._top.append((slot, ref.key or ""))
            elif ref.section == GEO:
                self._geo.append((slot, ref.key))
            else:
                sections.setdefault(ref.section, []).append((slot, ref.key or ""))
        self._sections = tuple((name, tuple(items)) for name, items in sections.items())

    def read(self, lead: Mapping[str, object], geo: Geo | None) -> LeadView:
        values: list[object] = [None] * self._size
        for slot, key in self._top:
            values[slot] = lead.get(key)
        for name, items in self._sections:
            section = lead.get(name)
            if type(section) is dict or isinstance(section, Mapping):
                for slot, key in items:
                    values[slot] = section.get(key)
        if geo is not None:
            for slot, attribute in self._geo:
                values[slot] = geo if attribute is None else getattr(geo, attribute)
        return LeadView(values, geo)
