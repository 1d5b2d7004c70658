"""How a lead's values compare with a rule's: the contract's value semantics, in one place.

Every operator reads lead values through these functions, so "case-insensitive, whitespace ignored,
numeric strings are numbers, booleans equal true/false, empty is missing/null/blank/[]" is decided
once. Both sides of a comparison are reduced to a *key*:

- ``None`` for an empty value (missing, null, a blank string, an empty list or mapping);
- a ``float`` for a number or a numeric string (``"10115"`` and ``10115`` share the key 10115.0);
- ``"true"`` / ``"false"`` for a boolean, so a boolean equals ``true`` and the text ``"TRUE"``
  alike, yet is never a number (``True`` would otherwise equal ``1``);
- the stripped, case-folded text for any other string;
- a fresh :class:`Opaque` for anything else (a non-empty list, NaN), which equals nothing.

Keys are hashable and a float never equals a str, so the condition index can look them up in dicts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
"""Decimal numbers only: ``float()`` also takes ``"nan"``, ``"inf"`` and ``"1_000"``: text here."""

_NUMBER_START = frozenset("+-.0123456789")


class Opaque:
    """The key of a value that is neither empty nor comparable: it equals no other key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<opaque>"


Key = float | str | Opaque | None


def canonical(value: object) -> Key:
    """The key ``value`` compares by (see the module docstring)."""
    kind = type(value)
    if kind is str:
        text: str = value.strip()  # type: ignore[attr-defined]
        if not text:
            return None
        if text[0] in _NUMBER_START and NUMERIC.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return number
        return text.casefold()
    if value is None:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        number = float(value)  # type: ignore[arg-type]
        return number if math.isfinite(number) else Opaque()
    if isinstance(value, list | tuple | dict) and not value:
        return None
    if isinstance(value, str):  # a str subclass
        return canonical(str(value))
    return Opaque()


TEXT_KEYS_KEPT = 65_536
"""How many texts' keys :func:`keys` remembers before it starts again."""
TEXT_KEPT_CHARS = 40
"""The longest text whose key is remembered: the recurring values (states, makes, categories,
postcodes) are short, and with this bound the memory stays under about 15 MB."""


class _TextKeys(dict[str, Key]):
    """Texts' keys, each computed on its first look-up; short ones kept, up to a bound."""

    def __missing__(self, text: str) -> Key:
        key = canonical(text)
        if len(text) <= TEXT_KEPT_CHARS:
            if len(self) >= TEXT_KEYS_KEPT:
                self.clear()
            self[text] = key
        return key


_text_keys = _TextKeys()


def keys(values: Sequence[object]) -> list[Key]:
    """:func:`canonical` of each value, texts' keys remembered: a lead's state, make, category
    and lead type recur lead after lead, and stripping, folding and number-matching them was a
    third of reading a lead. Only exact ``str`` values are looked up (a subclass's key may
    differ), and only short ones kept.

    A known text's key is then a subscript that the dictionary answers in C (``__missing__``
    computes the rest), inside one comprehension, rather than a test, a look-up and an append in
    Python for each value."""
    known = _text_keys
    return [
        None if value is None else known[value] if type(value) is str else canonical(value)
        for value in values
    ]


def display_text(value: object) -> str | None:
    """The text a lead value reads as, surrounding whitespace removed; None when empty or opaque.

    Numbers read as people write them (``10115``, not ``10115.0``) so ``starts_with: "101"`` works
    on a postcode stored as a number.
    """
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return None


def folded_text(value: object) -> str | None:
    """:func:`display_text`, case-folded: what ``contains``, ``starts_with``, ``ends_with`` see."""
    text = display_text(value)
    return None if text is None else text.casefold()


def as_number(value: object) -> float | None:
    """The number a rule value stands for (a number or a numeric string), or None."""
    key = canonical(value)
    return key if isinstance(key, float) else None


def fold(name: str) -> str:
    """How site ids and interest categories are matched: case and surrounding whitespace ignored."""
    return name.strip().casefold()
