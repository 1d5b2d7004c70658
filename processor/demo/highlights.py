"""What the demo's summary tells in sentences: the caps reached and the duplicates caught.

Both are read from the audit records, as an operator would read them, so the sentences say what
the processor did rather than what the sample was meant to make it do. A cap counts by the lead's
time in the partner's time zone; the audit record does not carry that time, so the leads' times
come from what the demo published, by lead id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from processor.rules import RulesDocument
from processor.rules.windows import Period, window

CAPPED_PARTNER = "capped: partner "
"""How a trace says that a candidate was passed over for one of its partner's caps."""
SHOWN_DUPLICATES = 5
"""Duplicates named in the summary's line; the rest are counted."""


@dataclass(frozen=True, slots=True)
class _Limit:
    """A partner's cap on leads (revenue caps are left out of the summary's sentences)."""

    partner: str
    leads: int
    per: Period
    zone: ZoneInfo

    def window(self, when: datetime) -> str:
        return window(self.per, when, self.zone)[0]


class Highlights:
    """Caps reached and duplicates caught, gathered one audit record at a time."""

    def __init__(self, rules: RulesDocument, times: Mapping[str, datetime]) -> None:
        self._times = times
        self._limits: dict[str, list[_Limit]] = defaultdict(list)
        for partner in rules.partners:
            for cap in partner.caps:
                if cap.leads is not None:
                    limit = _Limit(partner.id, cap.leads, cap.per, ZoneInfo(partner.zone))
                    self._limits[partner.id].append(limit)
        self._took: Counter[tuple[_Limit, str]] = Counter()
        self._passed: list[tuple[str, str, datetime]] = []
        """Each lead a partner was passed over for by one of its caps: the partner, who took the
        lead instead, the lead's time."""
        self.duplicates: list[tuple[str, str]] = []
        """Each duplicate's lead id and the lead it repeats, in the audit topic's order."""

    def add(self, decision: Mapping[str, Any], trace: Sequence[Mapping[str, Any]]) -> None:
        """Takes in one decision as the audit record has it, with its trace decoded."""
        lead_id = decision["lead_id"]
        if decision["outcome"] == "duplicate" and decision.get("duplicate_of"):
            self.duplicates.append((lead_id, decision["duplicate_of"]))
        when = self._times.get(lead_id)
        if when is None:
            return
        for delivery in decision["deliveries"]:
            for limit in self._limits.get(delivery["partner"], ()):
                self._took[(limit, limit.window(when))] += 1
        taker = " and ".join(d["partner"] for d in decision["deliveries"])
        for entry in trace:
            excluded = entry.get("excluded")
            if entry.get("step") == "assignment" and str(excluded).startswith(CAPPED_PARTNER):
                instead = taker or f"no one ({decision['outcome']})"
                self._passed.append((str(entry.get("partner")), instead, when))

    def cap_lines(self) -> list[str]:
        """``cap reached: prime-lending took 3 of 3 leads per day (2026-11-02,
        America/New_York); harbor-finance took the next 30``: one line per window in which a
        partner's cap was reached. A lead the partner was passed over for is put down to the first
        of its caps that is full in the lead's window."""
        instead: dict[tuple[_Limit, str], Counter[str]] = defaultdict(Counter)
        for partner, taker, when in self._passed:
            for limit in self._limits.get(partner, ()):
                key = (limit, limit.window(when))
                if self._took[key] >= limit.leads:
                    instead[key][taker] += 1
                    break
        lines = []
        for (limit, name), took in sorted(self._took.items(), key=_in_order):
            if took >= limit.leads:
                lines.append(
                    f"cap reached: {limit.partner} took {took} of {limit.leads} leads per "
                    f"{limit.per} ({name}, {limit.zone.key})" + _then(instead[(limit, name)])
                )
        return lines

    def duplicate_line(self) -> str:
        """``duplicates caught: 2 (lead-000200 repeats lead-000003; lead-000298 sent twice)``."""
        said = [
            f"{lead} sent twice" if lead == earlier else f"{lead} repeats {earlier}"
            for lead, earlier in self.duplicates[:SHOWN_DUPLICATES]
        ]
        more = len(self.duplicates) - len(said)
        if more:
            said.append(f"and {more} more")
        listed = f" ({'; '.join(said)})" if said else ""
        return f"duplicates caught: {len(self.duplicates)}{listed}"


def _in_order(item: tuple[tuple[_Limit, str], int]) -> tuple[str, str, str]:
    (limit, name), _ = item
    return (limit.partner, limit.per, name)


def _then(takers: Counter[str]) -> str:
    """Who took the leads a full cap turned away: one partner, or each with its count."""
    if not takers:
        return ""
    if len(takers) == 1:
        ((taker, count),) = takers.items()
        return f"; {taker} took the next {count}"
    shares = ", ".join(f"{taker} {count}" for taker, count in takers.most_common())
    return f"; the next {takers.total()} went to {shares}"
