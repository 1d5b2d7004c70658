"""Distribution logs: which partner a lead went to and why, searched in the console's index.

``/logs`` searches decisions by lead id, partner, profile, outcome and time; ``/leads/{id}`` shows
one lead whole: what came in (read from the input topic on demand), every decision made for it
and why, where it went, and what each delivery's receipts say happened next. Both pages show how
far the index has read, so "not found" can be told from "not indexed yet".
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.console.index.search import (
    DecisionQuery,
    DecisionRow,
    DeliveryRow,
    ReceiptRow,
    decisions_of,
    index_status,
    receipts_of,
    search,
)
from processor.console.web.context import ConsoleContext
from processor.console.web.leads import flattened, reader_of
from processor.console.web.masking import masked_geo, masked_lead, masked_trace
from processor.console.web.query import TEXT_MAX, Query
from processor.console.web.templating import render
from processor.rules.explain import explain_text

OUTCOMES = ("routed", "fallback", "unroutable", "duplicate", "rejected")
PAGE_DEFAULT = 50
PAGE_MAX = 200
FILTERS = ("lead_id", "partner", "profile", "outcome", "since", "until", "limit")


async def logs_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    params = Query(request.query_params)
    query = DecisionQuery(
        lead_id=params.text("lead_id", "Lead id"),
        partner=params.text("partner", "Partner"),
        profile=params.text("profile", "Profile"),
        outcome=params.choice("outcome", "Outcome", OUTCOMES),
        since=params.moment("since", "Since", _now_ms()),
        until=params.moment("until", "Until", _now_ms()),
        limit=params.integer("limit", "Rows", 1, PAGE_MAX, PAGE_DEFAULT),
        before=params.cursor("before"),
    )
    rows = [] if params.errors else await run_in_threadpool(search, context.engine, query)
    older = None
    if len(rows) == query.limit:
        last = rows[-1]
        kept = {name: params.raw(name) for name in FILTERS if params.raw(name)}
        older = "/logs?" + urlencode({**kept, "before": f"{last.decided_at},{last.id}"})
    snapshot = context.rules.snapshot
    return render(
        request,
        "logs.html",
        {
            "form": {name: params.raw(name) for name in FILTERS},
            "errors": params.errors,
            "rows": rows,
            "older": older,
            "paged": query.before is not None,
            "outcomes": OUTCOMES,
            "partners": snapshot.partner_ids() if snapshot is not None else (),
            "status": await run_in_threadpool(index_status, context.engine),
        },
        status_code=400 if params.errors else 200,
    )


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery, what its receipts say, and the decision that re-offered it, if one did."""

    delivery: DeliveryRow
    receipts: tuple[ReceiptRow, ...]
    reoffered_by: int | None


@dataclass(frozen=True, slots=True)
class DecisionView:
    """A decision as the lead page shows it, personal data masked for viewers."""

    row: DecisionRow
    headline: str
    reasons: tuple[str, ...]
    trace: str
    geo: dict[str, Any] | None
    deliveries: tuple[DeliveryView, ...]


async def lead_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    lead_id: str = request.path_params["lead_id"]
    if len(lead_id) > TEXT_MAX:
        raise HTTPException(400, f"A lead id has at most {TEXT_MAX} characters.")
    found = await run_in_threadpool(decisions_of, context.engine, lead_id)
    if not found:
        status = await run_in_threadpool(index_status, context.engine)
        raise HTTPException(
            404,
            f"No decision for lead {lead_id!r} is in the index. It holds {status.decisions:,} "
            "decisions; a lead decided moments ago may not be indexed yet.",
        )
    receipts = await run_in_threadpool(receipts_of, context.engine, lead_id)
    sees = request.state.user.sees_personal_data
    lead, lead_note = await _lead_as_published(request, found)
    return render(
        request,
        "lead.html",
        {
            "lead_id": lead_id,
            "decisions": _views(found, receipts, sees),
            "others": _unmatched(found, receipts),
            "lead": None if lead is None else flattened(masked_lead(lead, sees)),
            "lead_note": lead_note,
            "masked": not sees,
        },
    )


async def _lead_as_published(
    request: Request, found: Sequence[DecisionRow]
) -> tuple[Mapping[str, Any] | None, str | None]:
    """The lead the first decision was made for, or None and why not."""
    first = found[0]
    topic, partition, offset = first.source_topic, first.source_partition, first.source_offset
    if topic is None or partition is None or offset is None:
        return None, "The decision names no input record."
    read = await run_in_threadpool(reader_of(request), topic, partition, offset)
    where = f"{topic}[{partition}]@{offset}"
    if isinstance(read, str):
        return None, f"The input record {where} {read}."
    if read.get("lead_id") != first.lead_id:
        return None, f"The input record {where} holds another lead."
    return read, None


def _views(
    found: Sequence[DecisionRow], receipts: Sequence[ReceiptRow], sees: bool
) -> list[DecisionView]:
    by_delivery: dict[str, list[ReceiptRow]] = defaultdict(list)
    for receipt in receipts:
        by_delivery[receipt.delivery_id].append(receipt)
    reoffers = {row.reoffer_of: row.id for row in found if row.reoffer_of}
    views = []
    for row in found:
        trace = _trace(row.trace_json, sees)
        headline, reasons = _explained(row, trace)
        views.append(
            DecisionView(
                row=row,
                headline=headline,
                reasons=reasons,
                trace=json.dumps(trace, indent=2, ensure_ascii=False),
                geo=masked_geo(row.geo, sees),
                deliveries=tuple(
                    DeliveryView(
                        d, tuple(by_delivery.get(d.delivery_id, ())), reoffers.get(d.delivery_id)
                    )
                    for d in row.deliveries
                ),
            )
        )
    return views


def _unmatched(found: Sequence[DecisionRow], receipts: Sequence[ReceiptRow]) -> list[ReceiptRow]:
    """Receipts of deliveries no indexed decision lists (its decision not indexed yet)."""
    listed = {d.delivery_id for row in found for d in row.deliveries}
    return [receipt for receipt in receipts if receipt.delivery_id not in listed]


def _trace(trace_json: str, sees: bool) -> list[Any]:
    """The stored trace (the index keeps only JSON arrays), masked for viewers."""
    try:
        trace = json.loads(trace_json)
    except (ValueError, RecursionError):
        trace = []
    return masked_trace(trace if isinstance(trace, list) else [], sees)


def _explained(row: DecisionRow, trace: Sequence[Any]) -> tuple[str, tuple[str, ...]]:
    """The decision in words, as ``audit show`` says it: a headline, then one line per step.

    A record on the audit topic may come from anyone who can write it; a trace the processor
    did not write may lack what the words need, and then the page says so instead of failing."""
    decision = {
        "lead_id": row.lead_id,
        "error": row.error,
        "deliveries": [
            {
                "partner": d.partner,
                "assignment": d.assignment,
                "price": d.price,
                "currency": d.currency,
                "distance_km": d.distance_km,
            }
            for d in row.deliveries
        ],
    }
    entries = [entry for entry in trace if isinstance(entry, Mapping)]
    try:
        text = explain_text(row.outcome, entries, decision)
    except (KeyError, TypeError, ValueError, AttributeError):
        return (
            f"lead {row.lead_id}: {row.outcome}",
            ("its trace is not one the processor writes; it is shown as recorded below",),
        )
    headline, *lines = text.split("\n")
    return headline, tuple(line.removeprefix("  - ") for line in lines)


def _now_ms() -> int:
    return int(time.time() * 1000)


routes = [
    Route("/logs", logs_page, methods=["GET"]),
    Route("/leads/{lead_id:path}", lead_page, methods=["GET"]),
]
