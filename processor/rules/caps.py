"""Caps compiled for routing: is a candidate under every cap at this price, and counting a sale.

A partner's caps count every delivery to it, from any profile; an assignment's count that
assignment's only. Each cap counts in a window of the partner's local time (see
:mod:`processor.rules.windows`), leads as 1 each and revenue as the effective price, in
millionths so that sums are exact. A candidate is excluded when one more delivery at its price
would pass a cap: a cap of 100 leads takes the 100th and refuses the 101st.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from processor.rules.document import Cap
from processor.rules.ledger import MICROS, Ledger, cap_key, epoch_ms, micros
from processor.rules.schedule import local
from processor.rules.windows import Period, window

Window = tuple[str, datetime | None]
"""A window's name and when the next one starts (see :func:`window`)."""

_RECENT: dict[tuple[Period, str, int], Window] = {}
"""Windows worked out for recent leads, by period, zone and the second of the lead's time: every
zone's offset is whole seconds, so a window starts and ends on a second, and the leads of one
second (a thousand of them at a thousand a second) share each window."""

_RECENT_MAX = 4096


class Windows:
    """The cap windows of one lead's time, each period of each zone worked out once: a lead's
    candidates can count hundreds of caps, in a few zones."""

    __slots__ = ("_found", "_second", "keys", "when")

    def __init__(self, when: datetime) -> None:
        self.when = when
        self._second: int | None = None
        self._found: dict[tuple[Period, str], Window] = {}
        self.keys: dict[CompiledCap, tuple[bytes, datetime | None]] = {}
        """Each cap's window key and end, made once: a cap is checked for each candidate that
        has it, and counted after."""

    def of(self, per: Period, zone: ZoneInfo) -> Window:
        """The window's name and when the next one starts (see :func:`window`)."""
        found = self._found.get((per, zone.key))
        if found is None:
            if self._second is None:
                self._second = math.floor(self.when.timestamp())
            recent = (per, zone.key, self._second)
            found = _RECENT.get(recent)
            if found is None:
                if len(_RECENT) >= _RECENT_MAX:
                    _RECENT.clear()
                found = _RECENT[recent] = window(per, self.when, zone)
            self._found[(per, zone.key)] = found
        return found


class CompiledCap:
    """One cap with what it belongs to: ``scope`` is ``partner/<id>`` or
    ``assignment/<profile>/<id>``, ``zone`` the partner's time zone."""

    __slots__ = ("_prefix", "cap", "limit", "scope", "zone")

    def __init__(self, cap: Cap, scope: str, zone: ZoneInfo) -> None:
        self.cap = cap
        self.scope = scope
        self.zone = zone
        self.limit = cap.leads if cap.leads is not None else micros(cap.revenue or 0.0)
        """The limit in the unit the ledger counts: leads, or revenue in millionths."""
        self._prefix = cap_key(scope, cap.per, cap.unit, "")

    def amount(self, price: float) -> int:
        """What one delivery at ``price`` adds to this cap: a negative price earns nothing, so
        it takes nothing back from a revenue cap either."""
        return 1 if self.cap.leads is not None else max(0, micros(price))

    def in_units(self, used: int) -> tuple[float, float]:
        """A window's ``used`` (as the ledger counts it) and the limit, in leads or currency
        units, as reports and gauges show them."""
        cap = self.cap
        if cap.leads is None:
            return used / MICROS, float(cap.revenue or 0.0)
        return float(used), float(cap.leads)

    def window(self, windows: Windows) -> tuple[bytes, datetime | None]:
        """The ledger key of the lead's window, and when that window ends."""
        found = windows.keys.get(self)
        if found is None:
            name, ends = windows.of(self.cap.per, self.zone)
            found = windows.keys[self] = (self._prefix + name.encode(), ends)
        return found

    def describe(self, used: int, price: float, ends: datetime | None) -> str:
        """``capped: partner crm-east has 100 of 100 leads per day; resets 2026-12-01 00:00
        America/New_York``, for the trace."""
        cap = self.cap
        owner = self.scope.replace("/", " ", 1).replace("/", ": ", 1)
        if cap.leads is not None:
            measure = f"{used} of {cap.leads} leads per {cap.per}"
        else:
            measure = (
                f"{used / 1e6:,.2f} of {cap.revenue:,.2f} {cap.currency} per {cap.per}, "
                f"and this lead's {price:,.2f} would pass it"
            )
        resets = ""
        if ends is not None:
            resets = f"; resets {local(ends, self.zone):%Y-%m-%d %H:%M} {self.zone.key}"
        return f"capped: {owner} has {measure}{resets}"


def full(caps: Sequence[CompiledCap], ledger: Ledger, windows: Windows, price: float) -> str | None:
    """Why a delivery at ``price`` would pass one of ``caps``; None when it passes none."""
    for compiled in caps:
        key, ends = compiled.window(windows)
        used = ledger.cap_used(key)
        if used + compiled.amount(price) > compiled.limit:
            return compiled.describe(used, price, ends)
    return None


class Counted(NamedTuple):
    """What one delivery counted against one cap's window (its ledger key): the amount, for
    :meth:`Ledger.give_back`, and the window's use after it, for the cap metrics."""

    key: bytes
    amount: int
    used: int


def count(
    caps: Sequence[CompiledCap], ledger: Ledger, windows: Windows, price: float, keep_ms: int
) -> list[Counted]:
    """Counts one delivery at ``price`` against each of ``caps``, in order; a window is kept
    ``keep_ms`` past its end for leads that arrive late."""
    counted: list[Counted] = []
    for compiled in caps:
        key, ends = compiled.window(windows)
        expires = None if ends is None else epoch_ms(ends) + keep_ms
        amount = compiled.amount(price)
        counted.append(Counted(key, amount, ledger.count(key, amount, expires)))
    return counted
