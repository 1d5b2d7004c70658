"""The index's queries, on records indexed as the console indexes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from processor.console.index.indexer import Indexer
from processor.console.index.schema import open_index
from processor.console.index.search import (
    DecisionQuery,
    DecisionRow,
    PartnerDay,
    dead_letter_reasons,
    decisions_of,
    index_status,
    partner_days,
    receipts_of,
    search,
)
from tests.unit.console.index_kit import (
    AUDIT,
    DAY_MS,
    RECEIPTS,
    SETTINGS,
    T0,
    Source,
    dead_letter,
    decision,
    on,
    receipt,
)

DAY = T0 // DAY_MS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """30 decisions a minute apart (lead-0 oldest): partners east and west in turn, east alone
    on every third; profiles acme and zeta; two outcomes; a re-offer of lead-4; receipts and dead
    letters over two days."""
    path = tmp_path_factory.mktemp("index") / "index.sqlite3"
    engine = open_index(f"sqlite:///{path}")
    records = []
    for n in range(30):
        partners = ["east"] if n % 3 == 0 else ["east", "west"] if n % 3 == 1 else ["west"]
        outcome = "fallback" if n % 5 == 0 else "routed"
        profile = "zeta" if n % 2 else "acme"
        made = decision(
            f"lead-{n}", T0 + n * 60_000, partners=partners, outcome=outcome, profile=profile
        )
        records.append(on(AUDIT, n, made))
    again = decision("lead-4", T0 + DAY_MS, partners=["north"], attempt=2, reoffer_of="lead-4-0")
    records.append(on(AUDIT, 30, again))
    ends = [
        ("lead-4-0", "lead-4", "east", "delivered", T0 + 100, 25.0),
        ("lead-4-0", "lead-4", "east", "returned", T0 + DAY_MS + 5, -25.0),
        ("lead-4-1", "lead-4", "west", "failed", T0 + 200, None),
        ("lead-5-0", "lead-5", "west", "delivered", T0 + 300, 25.0),
        ("lead-6-0", "lead-6", "east", "rejected", T0 + DAY_MS, None),
    ]
    records += [on(RECEIPTS, n, receipt(*end)) for n, end in enumerate(ends)]
    records += [dead_letter(0, "invalid-avro"), dead_letter(1, "invalid-lead", T0 + DAY_MS)]
    records += [dead_letter(2, "invalid-avro", T0 + DAY_MS)]
    indexer = Indexer(SETTINGS, engine, source=Source(records), batch=9)
    while indexer.poll_once(0):
        pass
    return engine


def leads(rows: list[DecisionRow]) -> list[str]:
    return [row.lead_id for row in rows]


def test_search_returns_the_newest_first_with_deliveries(engine: Engine) -> None:
    found = search(engine, DecisionQuery(limit=3))
    assert leads(found) == ["lead-4", "lead-29", "lead-28"]
    assert [d.partner for d in found[2].deliveries] == ["east", "west"]
    assert found[0].attempt == 2 and found[0].reoffer_of == "lead-4-0"
    geo = found[1].geo or {}
    assert (geo["lat"], geo["lon"], geo["country"], geo["source"]) == (40.7, -74.0, "US", "coords")


def test_pages_follow_one_another_without_gaps_or_repeats(engine: Engine) -> None:
    seen: list[str] = []
    before = None
    while page := search(engine, DecisionQuery(limit=7, before=before)):
        seen += leads(page)
        before = (page[-1].decided_at, page[-1].id)
    assert len(seen) == 31 and len(set(seen)) == 30  # lead-4 twice: two decisions


def test_search_by_lead_id_is_an_exact_match(engine: Engine) -> None:
    assert leads(search(engine, DecisionQuery(lead_id="lead-4"))) == ["lead-4", "lead-4"]
    assert search(engine, DecisionQuery(lead_id="lead-")) == []
    assert search(engine, DecisionQuery(lead_id="LEAD-4")) == []


def test_search_by_partner_with_other_filters(engine: Engine) -> None:
    west = search(engine, DecisionQuery(partner="west", limit=4))
    assert leads(west) == ["lead-29", "lead-28", "lead-26", "lead-25"]
    both = search(engine, DecisionQuery(partner="east", profile="zeta", outcome="fallback"))
    assert leads(both) == ["lead-25", "lead-15"]
    first_page = search(engine, DecisionQuery(partner="west", limit=2))
    last = first_page[-1]
    following = search(
        engine, DecisionQuery(partner="west", limit=2, before=(last.decided_at, last.id))
    )
    assert leads(following) == ["lead-26", "lead-25"]
    assert search(engine, DecisionQuery(partner="nobody")) == []


def test_search_by_profile_outcome_and_time_span(engine: Engine) -> None:
    span = DecisionQuery(since=T0 + 10 * 60_000, until=T0 + 13 * 60_000)
    assert leads(search(engine, span)) == ["lead-12", "lead-11", "lead-10"]
    fallback = search(engine, DecisionQuery(outcome="fallback", profile="acme"))
    assert leads(fallback) == ["lead-20", "lead-10", "lead-0"]


def test_a_query_beyond_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        DecisionQuery(limit=100_000)
    with pytest.raises(ValueError, match="limit"):
        DecisionQuery(limit=0)


def test_decisions_and_receipts_of_a_lead_oldest_first(engine: Engine) -> None:
    assert [row.attempt for row in decisions_of(engine, "lead-4")] == [1, 2]
    assert decisions_of(engine, "nobody") == []
    found = receipts_of(engine, "lead-4")
    assert [(r.delivery_id, r.status) for r in found] == [
        ("lead-4-0", "delivered"),
        ("lead-4-1", "failed"),
        ("lead-4-0", "returned"),
    ]
    assert found[0].revenue == 25.0 and found[0].detail == "https://crm.example/hook: HTTP 200"


def test_partner_days_count_decided_delivered_failed_returned(engine: Engine) -> None:
    days = partner_days(engine, DAY, DAY + 1)
    assert days == [
        PartnerDay("east", DAY, decided=20, delivered=1, revenue={"USD": 25.0}),
        PartnerDay("east", DAY + 1, failed=1, returned=1, credits={"USD": 25.0}),
        PartnerDay("north", DAY + 1, decided=1),
        PartnerDay("west", DAY, decided=20, delivered=1, failed=1, revenue={"USD": 25.0}),
    ]
    assert [d.day for d in partner_days(engine, DAY + 1, DAY + 1, "east")] == [DAY + 1]
    assert partner_days(engine, DAY + 2, DAY + 9) == []


def test_dead_letter_reasons_most_first(engine: Engine) -> None:
    assert dead_letter_reasons(engine) == [("invalid-avro", 2), ("invalid-lead", 1)]
    later = dead_letter_reasons(engine, since=T0 + DAY_MS)
    assert later == [("invalid-avro", 1), ("invalid-lead", 1)]


def test_index_status(engine: Engine) -> None:
    status = index_status(engine)
    assert (status.decisions, status.receipts, status.dead_letters) == (31, 5, 3)
    assert status.last_decided_at == T0 + DAY_MS
    assert status.positions == {AUDIT: {0: 31}, RECEIPTS: {0: 5}, "dlq": {0: 3}}


def test_an_empty_index(tmp_path: Path) -> None:
    empty = open_index(f"sqlite:///{tmp_path / 'new' / 'index.sqlite3'}")
    status = index_status(empty)
    assert (status.decisions, status.last_decided_at, status.positions) == (0, None, {})
    assert search(empty, DecisionQuery(partner="east")) == []


def test_partner_days_keep_currencies_apart(tmp_path: Path) -> None:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    eur = receipt("d-2", "l-2", "east", "delivered", T0, 30.0) | {"currency": "EUR"}
    given = [
        on(RECEIPTS, 0, receipt("d-1", "l-1", "east", "delivered", T0, 25.0)),
        on(RECEIPTS, 1, eur),
        on(RECEIPTS, 2, receipt("d-1", "l-1", "east", "returned", T0, -25.0)),
        on(RECEIPTS, 3, receipt("d-3", "l-3", "east", "retrying", T0, None)),
    ]
    Indexer(SETTINGS, engine, source=Source(given)).poll_once(0)
    assert partner_days(engine, DAY, DAY) == [
        PartnerDay(
            "east",
            DAY,
            delivered=2,
            returned=1,
            revenue={"EUR": 30.0, "USD": 25.0},
            credits={"USD": 25.0},
        )
    ]
