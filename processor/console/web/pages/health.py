"""Health: are the rules meant in force, is routing keeping up, what ends as a dead letter.

Everything here is read when the page is asked for: the rules from the console's own follower of
the config topic (it judges versions as processors do), lag from Kafka (bounded in time: a broker
away makes the page say 'unknown' and why, not hang), and the rest from the index. Each problem
links to the runbook section that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.console.index.search import IndexStatus, dead_letter_reasons, index_status
from processor.console.positions import Positions, read_positions
from processor.console.rules_watch import RulesWatch
from processor.console.web import runbook
from processor.console.web.context import ConsoleContext
from processor.console.web.templating import render
from processor.control.records import VERSION_KEY


@dataclass(frozen=True)
class RefusedRow:
    """A refused config record as the page lists it."""

    version: str | None
    key: str
    offset: int
    reason: str
    detail: str
    seen_at: datetime | None
    runbook: str


@dataclass(frozen=True)
class LagRow:
    """A partition and how many records its reader has still to read."""

    partition: int
    position: int | None
    end: int
    behind: int


async def health_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    settings = context.settings
    topics = settings.topics
    indexed = (topics.audit_topic, topics.receipts_topic, topics.dlq_topic)
    positions = await run_in_threadpool(read_positions, settings, (topics.input_topic, *indexed))
    status = await run_in_threadpool(index_status, context.engine)
    reasons = await run_in_threadpool(dead_letter_reasons, context.engine)
    processor_lag = _processor_lag(positions, topics.input_topic)
    return render(
        request,
        "health.html",
        {
            "in_force": context.rules.config.in_force,
            "refused": _refused(context),
            "positions": positions,
            "group": settings.kafka.group_id,
            "input_topic": topics.input_topic,
            "processor_lag": processor_lag,
            "processor_behind": sum(row.behind for row in processor_lag),
            "status": status,
            "index_lag": {topic: _index_behind(positions, status, topic) for topic in indexed},
            "reasons": reasons,
            "links": {
                "no_rules": runbook.link(runbook.NO_RULES),
                "lag": runbook.link(runbook.LAG),
                "dead_letters": runbook.link(runbook.DEAD_LETTERS),
            },
        },
    )


async def runbook_page(request: Request) -> Response:
    html = runbook.runbook_html()
    if html is None:
        raise HTTPException(
            404, "The runbook is not installed with this console: read docs/runbook.md."
        )
    return render(request, "runbook.html", {"runbook": html})


def _refused(context: ConsoleContext) -> list[RefusedRow]:
    """The refused config records, newest first, with when the console saw a refused version.

    The rules watch appends to both lists in its thread: each is copied whole (one step under
    the interpreter lock) before it is read."""
    seen: dict[str, datetime] = {}
    if isinstance(context.rules, RulesWatch):
        seen = {r.refusal.version: r.at for r in tuple(context.rules.refusals)}
    rows = []
    for refused in reversed(tuple(context.rules.config.refused)):
        version_refused = refused.key == VERSION_KEY
        rows.append(
            RefusedRow(
                version=refused.version,
                key=refused.key,
                offset=refused.offset,
                reason=refused.reason,
                detail=refused.detail,
                seen_at=seen.get(refused.version or "") if version_refused else None,
                runbook=runbook.link(
                    runbook.VERSION_REFUSED if version_refused else runbook.RECORD_REFUSED
                ),
            )
        )
    return rows


def _processor_lag(positions: Positions, topic: str) -> list[LagRow]:
    return [
        LagRow(
            p,
            positions.committed.get(p),
            end,
            positions.behind(topic, p, positions.committed.get(p)),
        )
        for p, (_, end) in sorted(positions.ends.get(topic, {}).items())
    ]


def _index_behind(positions: Positions, status: IndexStatus, topic: str) -> int:
    read = status.positions.get(topic, {})
    return sum(positions.behind(topic, p, read.get(p)) for p in positions.ends.get(topic, {}))


routes = [
    Route("/health", health_page, methods=["GET"]),
    Route("/runbook", runbook_page, methods=["GET"]),
]
