"""The demo's sentences on caps reached and duplicates caught, from decisions as audited."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from processor.demo.highlights import Highlights
from processor.demo.leads import sample_leads
from processor.demo.run import rules_text
from processor.rules import Ledger, MemoryStore, compile_rules, decide, load_rules
from processor.rules.schedule import lead_time
from processor.wire import lead_from_json


def test_the_sample_reaches_the_buyers_cap_and_holds_two_duplicates() -> None:
    rules = load_rules(rules_text())
    snapshot, ledger = compile_rules(rules, "1"), Ledger(MemoryStore())
    leads = [lead_from_json(lead) for lead in sample_leads(300)]
    times = {lead["lead_id"]: when for lead in leads if (when := lead_time(lead)) is not None}
    highlights = Highlights(rules, times)
    delivered: Counter[str] = Counter()
    for lead in leads:
        decision = decide(snapshot, lead, None, ledger)
        highlights.add(decision.as_dict(), decision.trace)
        delivered.update(d.partner for d in decision.deliveries)

    # Harbor bids on the same leads as Prime, for less: it has each one Prime's cap turned away.
    assert delivered["prime-lending"] == 3 and delivered["harbor-finance"] > 0
    assert highlights.cap_lines() == [
        "cap reached: prime-lending took 3 of 3 leads per day (2026-11-02, America/New_York); "
        f"harbor-finance took the next {delivered['harbor-finance']}"
    ]
    sent_twice = [id for id, n in Counter(lead["lead_id"] for lead in leads).items() if n > 1]
    emails = [lead["contact"]["email"] for lead in leads]
    again = next(n for n, email in enumerate(emails) if email.isupper())
    first = emails.index(emails[again].lower())
    assert len(sent_twice) == 1 and first < again
    assert highlights.duplicate_line() == (
        f"duplicates caught: 2 ({leads[again]['lead_id']} repeats {leads[first]['lead_id']}; "
        f"{sent_twice[0]} sent twice)"
    )


RULES = """
partners:
  - {id: capped, format: json, timezone: Europe/Berlin,
     caps: [{per: day, leads: 1}, {per: month, revenue: 100, currency: EUR}]}
  - {id: other, format: json}
profiles:
  - {id: p, sources: [s], currency: EUR,
     assignments: [{id: a, partner: capped, filter: []}, {id: b, partner: other, filter: []}]}
"""


def audited(lead_id: str, outcome: str, partners: list[str], capped: bool) -> dict[str, Any]:
    """A decision as the audit record has it, its trace decoded, with only what is read."""
    return {
        "lead_id": lead_id,
        "outcome": outcome,
        "duplicate_of": None,
        "deliveries": [{"partner": partner} for partner in partners],
        "trace": [
            {
                "step": "assignment",
                "assignment": "a",
                "partner": "capped",
                "matched": True,
                "excluded": "capped: partner capped has 1 of 1 leads per day",
            }
        ]
        if capped
        else [],
    }


def test_each_day_a_cap_was_reached_has_its_line_with_who_took_the_rest() -> None:
    # 23:30 UTC on the 1st is the 2nd in Berlin: the cap's day is the partner's.
    times = {
        "l1": datetime(2026, 11, 1, 23, 30, tzinfo=UTC),
        "l2": datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
        "l3": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "l4": datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
        "l5": datetime(2026, 11, 3, 10, 0, tzinfo=UTC),
        "l6": datetime(2026, 11, 4, 10, 0, tzinfo=UTC),
    }
    highlights = Highlights(load_rules(RULES), times)
    for decision in (
        audited("l1", "routed", ["capped"], capped=False),
        audited("l2", "routed", ["other"], capped=True),
        audited("l3", "unroutable", [], capped=True),
        audited("l4", "routed", ["capped"], capped=False),
        audited("l5", "routed", ["other"], capped=True),
        audited("l6", "routed", ["other"], capped=False),
    ):
        highlights.add(decision, decision["trace"])

    assert highlights.cap_lines() == [
        "cap reached: capped took 1 of 1 leads per day (2026-11-02, Europe/Berlin); "
        "the next 2 went to other 1, no one (unroutable) 1",
        "cap reached: capped took 1 of 1 leads per day (2026-11-03, Europe/Berlin); "
        "other took the next 1",
    ]
    assert highlights.duplicate_line() == "duplicates caught: 0"


def test_the_duplicates_line_names_a_few_and_counts_the_rest() -> None:
    highlights = Highlights(load_rules(RULES), {})
    for n in range(7):
        decision = audited(f"d{n}", "duplicate", [], capped=False)
        decision["duplicate_of"] = "d0" if n % 2 else f"d{n}"
        highlights.add(decision, decision["trace"])

    assert highlights.cap_lines() == []
    assert highlights.duplicate_line() == (
        "duplicates caught: 7 (d0 sent twice; d1 repeats d0; d2 sent twice; d3 repeats d0; "
        "d4 sent twice; and 2 more)"
    )
