"""The index's read side: the questions the console's pages ask, as frozen values.

Every query walks an index in the order it returns rows, so its cost grows with the rows it
returns, not with the rows the index holds: decisions newest first by (decided_at, id), a
partner's through ``decision_deliveries``' (partner, decided_at, decision_id), a lead's by its id.
Pages go further back with a keyset cursor (``before``), never with OFFSET.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, func, or_, select

from processor.console.index.schema import (
    dead_letters,
    decision_deliveries,
    decisions,
    index_offsets,
    partner_day_totals,
    receipts,
    row_counts,
)

LIMIT_MAX = 1_000
"""The most decisions one search returns: a page shows a few dozen."""


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """Which decisions to find: every filter given must hold. Times are epoch milliseconds,
    ``since`` inclusive and ``until`` exclusive; ``before`` is the (decided_at, id) of the last
    decision of the previous page."""

    lead_id: str | None = None
    partner: str | None = None
    profile: str | None = None
    outcome: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = 50
    before: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= LIMIT_MAX:
            raise ValueError(f"limit {self.limit}: give 1 to {LIMIT_MAX}")


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery_id: str
    partner: str
    assignment: str | None
    price: float | None
    currency: str | None
    distance_km: float | None


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: int
    lead_id: str
    attempt: int
    outcome: str
    profile: str | None
    tier: str | None
    site_id: str | None
    duplicate_of: str | None
    error: str | None
    rules_version: str | None
    decided_at: int
    sequence: int | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    reoffer_of: str | None
    geo: dict[str, Any] | None
    trace_json: str
    deliveries: tuple[DeliveryRow, ...]


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    delivery_id: str
    lead_id: str
    partner: str
    status: str
    at: int
    detail: str | None
    price: float | None
    currency: str | None
    attempts: int | None
    next_attempt_at: int | None
    revenue: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class PartnerDay:
    """One partner's day (UTC): deliveries decided, and the receipts of that day by how they
    ended; revenue (delivered) and credits (returned, as positive amounts) per currency."""

    partner: str
    day: int
    decided: int = 0
    delivered: int = 0
    failed: int = 0
    returned: int = 0
    revenue: dict[str, float] = field(default_factory=dict)
    credits: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IndexStatus:
    decisions: int
    receipts: int
    dead_letters: int
    last_decided_at: int | None
    positions: dict[str, dict[int, int]]
    """Per topic and partition, the next offset the index will read."""


def search(engine: Engine, query: DecisionQuery) -> list[DecisionRow]:
    """The decisions that match ``query``, newest first, with their deliveries."""
    d = decisions.c
    if query.partner is None:
        ordered = _newest(select(decisions), d.decided_at, d.id, query)
        statement = ordered.where(*_decision_filters(query))
    else:
        # The partner's index gives its newest (decided_at, decision_id) in order; DISTINCT
        # because a hostile record could list one partner twice.
        dd = decision_deliveries.c
        picked = (
            _newest(select(dd.decided_at, dd.decision_id), dd.decided_at, dd.decision_id, query)
            .where(dd.partner == query.partner)
            .distinct()
        )
        filters = _decision_filters(query)
        if filters:
            picked = picked.join(decisions, d.id == dd.decision_id).where(*filters)
        chosen = picked.subquery()
        statement = (
            select(decisions)
            .join(chosen, d.id == chosen.c.decision_id)
            .order_by(d.decided_at.desc(), d.id.desc())
        )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
        return _with_deliveries(connection, rows)


def decisions_of(engine: Engine, lead_id: str) -> list[DecisionRow]:
    """Every decision of one lead, oldest first (a re-offered lead has several)."""
    d = decisions.c
    statement = (
        select(decisions).where(d.lead_id == lead_id).order_by(d.decided_at, d.id).limit(LIMIT_MAX)
    )
    with engine.connect() as connection:
        return _with_deliveries(connection, connection.execute(statement).all())


def receipts_of(engine: Engine, lead_id: str) -> list[ReceiptRow]:
    """Every receipt of one lead's deliveries, in the order they were written."""
    r = receipts.c
    columns = [getattr(r, name) for name in ReceiptRow.__dataclass_fields__]
    statement = select(*columns).where(r.lead_id == lead_id).order_by(r.at, r.id).limit(LIMIT_MAX)
    with engine.connect() as connection:
        return [ReceiptRow(*row) for row in connection.execute(statement)]


def partner_days(
    engine: Engine, since_day: int, until_day: int, partner: str | None = None
) -> list[PartnerDay]:
    """Each partner's days from ``since_day`` to ``until_day`` (both included, UTC days since
    1970) that saw a delivery decided or a receipt; ordered by partner, then day. Read from the
    totals the indexer keeps (:mod:`processor.console.index.rollup`)."""
    t = partner_day_totals.c
    counted_columns = (t.decided, t.delivered, t.failed, t.returned)
    statement = select(t.partner, t.day, t.currency, *counted_columns, t.revenue, t.credits).where(
        t.day >= since_day, t.day <= until_day
    )
    if partner is not None:
        statement = statement.where(t.partner == partner)
    counts: dict[tuple[str, int], list[int]] = {}
    revenue: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    credits: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    with engine.connect() as connection:
        for partner_id, day, currency, *counted, earned, credited in connection.execute(statement):
            key = (partner_id, day)
            known = counts.setdefault(key, [0, 0, 0, 0])
            for place, count in enumerate(counted):
                known[place] += count
            if earned:
                revenue[key][currency or "?"] = earned
            if credited:
                credits[key][currency or "?"] = credited
    return [
        PartnerDay(
            key[0],
            key[1],
            decided=known[0],
            delivered=known[1],
            failed=known[2],
            returned=known[3],
            revenue=revenue.get(key, {}),
            credits=credits.get(key, {}),
        )
        for key, known in sorted(counts.items())
    ]


def dead_letter_reasons(engine: Engine, since: int | None = None) -> list[tuple[str, int]]:
    """How many dead letters each reason has (since ``since``, epoch ms), most first."""
    dl = dead_letters.c
    count = func.count().label("count")
    statement = select(dl.reason, count).group_by(dl.reason).order_by(count.desc(), dl.reason)
    if since is not None:
        statement = statement.where(dl.at >= since)
    with engine.connect() as connection:
        return [(reason, number) for reason, number in connection.execute(statement)]


def index_status(engine: Engine) -> IndexStatus:
    """How much the index holds, its newest decision, and where it reads each partition."""
    with engine.connect() as connection:

        def one(statement: Select[Any]) -> Any:
            return connection.execute(statement).scalar_one()

        positions: dict[str, dict[int, int]] = defaultdict(dict)
        for topic, partition, next_offset in connection.execute(select(index_offsets)):
            positions[topic][partition] = next_offset
        counts = dict(connection.execute(select(row_counts.c.name, row_counts.c.count)).all())
        return IndexStatus(
            decisions=counts.get("decisions", 0),
            receipts=counts.get("receipts", 0),
            dead_letters=counts.get("dead_letters", 0),
            last_decided_at=one(select(func.max(decisions.c.decided_at))),
            positions=dict(positions),
        )


def _newest(
    statement: Select[Any], at: ColumnElement[int], row_id: ColumnElement[int], query: DecisionQuery
) -> Select[Any]:
    """``statement`` limited to the query's time span and page, newest first."""
    if query.since is not None:
        statement = statement.where(at >= query.since)
    if query.until is not None:
        statement = statement.where(at < query.until)
    if query.before is not None:
        last_at, last_id = query.before
        statement = statement.where(or_(at < last_at, and_(at == last_at, row_id < last_id)))
    return statement.order_by(at.desc(), row_id.desc()).limit(query.limit)


def _decision_filters(query: DecisionQuery) -> list[ColumnElement[bool]]:
    d = decisions.c
    wanted = ((d.lead_id, query.lead_id), (d.profile, query.profile), (d.outcome, query.outcome))
    return [column == value for column, value in wanted if value is not None]


def _with_deliveries(connection: Any, rows: Sequence[Any]) -> list[DecisionRow]:
    """The decision rows as ``DecisionRow``s, their deliveries read in one query."""
    dd = decision_deliveries.c
    by_decision: dict[int, list[DeliveryRow]] = defaultdict(list)
    if rows:
        statement = (
            select(
                dd.decision_id,
                *(getattr(dd, name) for name in DeliveryRow.__dataclass_fields__),
            )
            .where(dd.decision_id.in_([row.id for row in rows]))
            .order_by(dd.decision_id, dd.id)
        )
        for decision_id, *delivery in connection.execute(statement):
            by_decision[decision_id].append(DeliveryRow(*delivery))
    return [_decision(row, by_decision[row.id]) for row in rows]


def _decision(row: Any, deliveries: Iterable[DeliveryRow]) -> DecisionRow:
    return DecisionRow(
        id=row.id,
        lead_id=row.lead_id,
        attempt=row.attempt,
        outcome=row.outcome,
        profile=row.profile,
        tier=row.tier,
        site_id=row.site_id,
        duplicate_of=row.duplicate_of,
        error=row.error,
        rules_version=row.rules_version,
        decided_at=row.decided_at,
        sequence=row.sequence,
        source_topic=row.source_topic,
        source_partition=row.source_partition,
        source_offset=row.source_offset,
        reoffer_of=row.reoffer_of,
        geo=None if row.geo is None else json.loads(row.geo),
        trace_json=row.trace,
        deliveries=tuple(deliveries),
    )
