"""Totals kept as the rows they sum are written: each partner's day in one row per currency,
and how many rows each record table holds.

The receipts page shows 30 days of every partner: summing them from the rows would read every
delivery and receipt of the span (seconds at a million decisions, measured). The indexer adds
each batch's counts to ``partner_day_totals`` and ``row_counts`` in the batch's own transaction,
so the totals are exactly once with the rows, and the pages read a few thousand rows whatever
the traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from processor.console.index.schema import partner_day_totals, row_counts, upsert

FAILED = frozenset({"failed", "rejected"})
"""Receipt statuses counted as failed: the delivery ended without the partner taking the lead."""
ENDINGS = ("delivered", "failed", "returned")
"""What a receipt is counted as; others (retrying, reoffered, return_refused) are not."""
COUNTED = ("decided", *ENDINGS)
SUMMED = ("revenue", "credits")

Key = tuple[str, int, str]
"""Partner, day, currency ('' when a record names none)."""


def tally(
    deliveries: Iterable[Mapping[str, Any]], receipts: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The totals that delivery rows (``decision_deliveries``) and receipt rows add, one dict
    per partner, day and currency."""
    totals: dict[Key, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(COUNTED + SUMMED, 0))
    for delivery in deliveries:
        totals[(delivery["partner"], delivery["day"], delivery["currency"] or "")]["decided"] += 1
    for receipt in receipts:
        status = receipt["status"]
        counted = "failed" if status in FAILED else status
        key = (receipt["partner"], receipt["day"], receipt["currency"] or "")
        if counted in ENDINGS:
            totals[key][counted] += 1
        revenue = receipt["revenue"]
        if revenue is not None and status == "delivered":
            totals[key]["revenue"] += revenue
        elif revenue is not None and status == "returned":  # negative: the credit given
            totals[key]["credits"] -= revenue
    return [
        {"partner": partner, "day": day, "currency": currency, **added}
        for (partner, day, currency), added in totals.items()
    ]


def add(connection: Connection, totals: list[dict[str, Any]]) -> None:
    """Adds ``totals`` to the stored ones, creating the rows that are new."""
    if not totals:
        return
    statement = upsert(connection, partner_day_totals)
    columns = statement.excluded
    stored = partner_day_totals.c
    statement = statement.on_conflict_do_update(
        index_elements=[stored.partner, stored.day, stored.currency],
        set_={name: stored[name] + columns[name] for name in COUNTED + SUMMED},
    )
    connection.execute(statement, totals)


def count(connection: Connection, added: Mapping[str, int]) -> None:
    """Adds ``added`` (rows written, by table name) to ``row_counts``."""
    rows = [{"name": name, "count": n} for name, n in added.items() if n]
    if not rows:
        return
    statement = upsert(connection, row_counts)
    statement = statement.on_conflict_do_update(
        index_elements=[row_counts.c.name],
        set_={"count": row_counts.c.count + statement.excluded.count},
    )
    connection.execute(statement, rows)
