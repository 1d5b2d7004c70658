"""Receipts and revenue: per partner and day, what was decided, delivered, failed and returned,
what it earned and credited, and how much of a daily cap it used; as a table, charts and CSV.

Days are UTC days, as the index counts them. Money is never added across currencies: every sum
is per currency, and charts put currencies side by side rather than on top of each other.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.console.index.schema import DAY_MS
from processor.console.index.search import PartnerDay, partner_days
from processor.console.web.charts import Series, columns, horizontal
from processor.console.web.context import ConsoleContext
from processor.console.web.query import Query, day_text
from processor.console.web.templating import render
from processor.rules import Snapshot

DEFAULT_DAYS = 14
MAX_DAYS = 366
"""The longest span one page adds up: a year of days."""
CHART_CURRENCIES = 4
"""Currencies charted (those with the most revenue); the table lists every one."""
TOP_PARTNERS = 10
CSV_COLUMNS = (
    "day", "partner", "decided", "delivered", "failed", "returned", "daily_cap", "currency",
    "revenue", "credits",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """The days asked for (UTC days since 1970, both included) and the partner, if one."""

    since: int
    until: int
    partner: str | None


@dataclass(slots=True)
class Totals:
    """Counts and money over a set of partner-days; money per currency."""

    decided: int = 0
    delivered: int = 0
    failed: int = 0
    returned: int = 0
    revenue: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    credits: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, day: PartnerDay) -> None:
        self.decided += day.decided
        self.delivered += day.delivered
        self.failed += day.failed
        self.returned += day.returned
        for currency, amount in day.revenue.items():
            self.revenue[currency] += amount
        for currency, amount in day.credits.items():
            self.credits[currency] += amount


def _span(params: Query, today: int) -> Span:
    until = params.day("until", "Until", today)
    since = params.day("since", "Since", until - DEFAULT_DAYS + 1)
    if since > until:
        params.errors.append("Since: the first day comes before the last")
    elif until - since + 1 > MAX_DAYS:
        params.errors.append(f"Since: at most {MAX_DAYS} days at once")
    return Span(since, until, params.text("partner", "Partner"))


def _today() -> int:
    return int(time.time() * 1000) // DAY_MS


async def receipts_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    params = Query(request.query_params)
    span = _span(params, _today())
    form = {name: params.raw(name) for name in ("since", "until", "partner")}
    snapshot = context.rules.snapshot
    shown: dict[str, Any] = {
        "form": form,
        "errors": params.errors,
        "partners": snapshot.partner_ids() if snapshot is not None else (),
    }
    if params.errors:
        return render(request, "receipts.html", shown, status_code=400)
    days = await run_in_threadpool(
        partner_days, context.engine, span.since, span.until, span.partner
    )
    totals = Totals()
    for day in days:
        totals.add(day)
    caps = daily_caps(snapshot)
    return render(
        request,
        "receipts.html",
        {
            **shown,
            "span": (day_text(span.since), day_text(span.until)),
            "csv": "/receipts.csv?" + str(request.query_params),
            "rows": [
                (day_text(d.day), d, _money(d.revenue), _money(d.credits), _cap_use(d, caps))
                for d in sorted(days, key=lambda d: (-d.day, d.partner))
            ],
            "totals": totals,
            "total_revenue": _money(totals.revenue),
            "total_credits": _money(totals.credits),
            "charts": _charts(days, span, totals),
        },
    )


async def receipts_csv(request: Request) -> Response:
    """The same partner-days as the page, one line per partner, day and currency, for a
    spreadsheet or a script; a bad filter is a 400 with the reason as plain text."""
    context: ConsoleContext = request.app.state.context
    params = Query(request.query_params)
    span = _span(params, _today())
    if params.errors:
        return Response("\n".join(params.errors) + "\n", 400, media_type="text/plain")
    days = await run_in_threadpool(
        partner_days, context.engine, span.since, span.until, span.partner
    )
    caps = daily_caps(context.rules.snapshot)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for d in days:
        cap = caps.get(d.partner)
        counts = [d.decided, d.delivered, d.failed, d.returned, "" if cap is None else cap]
        currencies = sorted(set(d.revenue) | set(d.credits)) or [""]
        for currency in currencies:
            money = [d.revenue.get(currency, 0.0), d.credits.get(currency, 0.0)]
            writer.writerow(
                [day_text(d.day), _cell(d.partner), *counts, _cell(currency)]
                + [f"{amount:.2f}" if currency else "" for amount in money]
            )
    name = f"receipts-{day_text(span.since)}-{day_text(span.until)}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def daily_caps(snapshot: Snapshot | None) -> dict[str, int]:
    """Each partner's tightest cap of leads per day in the rules in force."""
    caps: dict[str, int] = {}
    if snapshot is None:
        return caps
    for partner_id in snapshot.partner_ids():
        limits = [c.leads for c in snapshot.partner(partner_id).caps if c.per == "day" and c.leads]
        if limits:
            caps[partner_id] = min(limits)
    return caps


def _cap_use(day: PartnerDay, caps: dict[str, int]) -> str:
    cap = caps.get(day.partner)
    return "" if cap is None else f"{day.decided} / {cap}"


def _money(amounts: dict[str, float]) -> str:
    return ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(amounts.items()))


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (partner ids come from records)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _charts(days: Sequence[PartnerDay], span: Span, totals: Totals) -> list[tuple[str, Markup]]:
    """Each chart with its caption."""
    labels = [day_text(day)[5:] for day in range(span.since, span.until + 1)]
    per_day: dict[int, Totals] = defaultdict(Totals)
    for d in days:
        per_day[d.day].add(d)
    dates = [per_day.get(day, Totals()) for day in range(span.since, span.until + 1)]

    def series(name: str, values: Iterable[float], css: str | None = None) -> Series:
        return Series(name, css or name, list(values))

    deliveries = columns(
        "chart-deliveries",
        "Deliveries per day",
        labels,
        [
            series("delivered", (t.delivered for t in dates)),
            series("failed", (t.failed for t in dates)),
            series("returned", (t.returned for t in dates)),
        ],
        stacked=True,
    )
    currencies = sorted(totals.revenue, key=lambda c: -totals.revenue[c])[:CHART_CURRENCIES]
    revenue = columns(
        "chart-revenue",
        "Revenue per day",
        labels,
        [
            series(currency, (t.revenue.get(currency, 0.0) for t in dates), f"money-{n}")
            for n, currency in enumerate(currencies)
        ],
        stacked=False,
    )
    return [
        ("Deliveries per day: delivered, failed, returned", deliveries),
        ("Revenue per day, per currency", revenue),
        *_top_partners(days, currencies),
    ]


def _top_partners(
    days: Sequence[PartnerDay], currencies: Sequence[str]
) -> list[tuple[str, Markup]]:
    """Per currency, the partners that earned the most in it over the span."""
    earned: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in days:
        for currency, amount in d.revenue.items():
            earned[currency][d.partner] += amount
    charts = []
    for n, currency in enumerate(currencies):
        ranked = sorted(earned[currency].items(), key=lambda item: (-item[1], item[0]))
        ranked = ranked[:TOP_PARTNERS]
        title = f"Top partners by revenue in {currency}"
        chart = horizontal(
            f"chart-top-partners-{n}",
            title,
            [partner for partner, _ in ranked],
            [amount for _, amount in ranked],
            f" {currency}",
        )
        charts.append((title, chart))
    return charts


routes = [
    Route("/receipts", receipts_page, methods=["GET"]),
    Route("/receipts.csv", receipts_csv, methods=["GET"]),
]
