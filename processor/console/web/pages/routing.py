"""The Routing pages: the rules in force as people read them, their history, and diffs.

Whatever reads Kafka (routing's state for the caps' use, the history topic) runs in a worker
thread with a bounded timeout, so a slow or absent broker holds one page, never the console, and
a page that cannot read it says why instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.console.routing_state import RoutingState
from processor.console.rules_view import rules_view
from processor.console.web.context import ConsoleContext, made_once
from processor.console.web.templating import render
from processor.control.documents import from_history
from processor.control.records import version_number
from processor.control.versions import Changes, Version, is_in_force, read_versions
from processor.errors import InvalidInput, UserError
from processor.rules import RulesDocument, document_to_parts
from processor.rules.diff import Change, diff_parts, shown, summary

HISTORY_TIMEOUT_S = 15.0
LIVE = "live"
MAX_VERSION_CHARS = 20


def routing_state(request: Request) -> RoutingState:
    """The application's reader of routing's state."""
    return made_once(request, "routing_state", lambda _context: RoutingState())


async def routing_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    snapshot = context.rules.snapshot
    if snapshot is None:
        return render(request, "routing.html", {"view": None})
    now = datetime.now(UTC)
    report, unknown = await run_in_threadpool(
        routing_state(request).report, context.settings, snapshot, now
    )
    record = context.rules.config.in_force
    return render(
        request,
        "routing.html",
        {
            "view": rules_view(snapshot, report, unknown, now),
            "applied_at": record.applied_at if record else None,
            "now": now,
        },
    )


@dataclass(frozen=True)
class HistoryRow:
    version: Version
    changes: str
    in_force: bool


def _history(context: ConsoleContext) -> list[HistoryRow]:
    """Every version, newest first, with what it changed and whether it is in force."""
    settings = context.settings
    changes = Changes(settings.rules.rules_limits())
    versions = read_versions(settings, changes.take, HISTORY_TIMEOUT_S)
    record = context.rules.config.in_force
    rows = [
        HistoryRow(version, change, record is not None and is_in_force(record, version))
        for version, change in zip(versions, changes.by_version, strict=True)
    ]
    return rows[::-1]


async def history_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    try:
        rows = await run_in_threadpool(_history, context)
    except UserError as error:
        return render(request, "history.html", {"rows": [], "error": str(error)}, status_code=503)
    return render(request, "history.html", {"rows": rows, "error": None})


class _Unknown(InvalidInput):
    """A side of a diff that names no version the console can read."""


def _side(context: ConsoleContext, name: str) -> tuple[str, RulesDocument]:
    """The rules a diff's side names: ``live`` (the version in force) or a version number."""
    if name == LIVE:
        document = context.rules.config.document
        if document is None:
            raise _Unknown("no rules version is in force")
        return "the version in force", document
    number = version_number(name)
    if number is None:
        raise _Unknown(f"{name[:MAX_VERSION_CHARS]!r} is neither a version number nor live")
    return f"version {number}", from_history(context.settings, number).document


@dataclass(frozen=True)
class DiffRow:
    """One change as the diff table shows it: a sign, what changed, and old and new values."""

    kind: str
    sign: str
    entity: str
    path: str
    old: str
    new: str


_SIGNS = {"added": "+", "removed": "-", "changed": "~", "moved": "~"}


def _row(change: Change) -> DiffRow:
    if change.kind == "moved":
        old, new = f"position {change.old}", f"position {change.new}"
    elif change.kind == "changed":
        old, new = shown(change.old), shown(change.new)
    else:
        old = new = ""
    path = "moved" if change.kind == "moved" else change.path
    return DiffRow(change.kind, _SIGNS[change.kind], change.entity, path, old, new)


def _diff(context: ConsoleContext, old: str, new: str) -> dict[str, object]:
    (old_name, old_document), (new_name, new_document) = _side(context, old), _side(context, new)
    changes = diff_parts(document_to_parts(old_document), document_to_parts(new_document))
    return {
        "old_name": old_name,
        "new_name": new_name,
        "changes": [_row(change) for change in changes],
        "summary": summary(changes),
        "error": None,
    }


async def diff_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    old = request.query_params.get("a", "")[:MAX_VERSION_CHARS] or LIVE
    new = request.query_params.get("b", "")[:MAX_VERSION_CHARS] or LIVE
    try:
        shown_diff = await run_in_threadpool(_diff, context, old, new)
    except InvalidInput as error:
        return _diff_error(request, old, new, str(error), 404)
    except UserError as error:
        return _diff_error(request, old, new, str(error), 503)
    return render(request, "diff.html", {"a": old, "b": new, **shown_diff})


def _diff_error(request: Request, old: str, new: str, why: str, status: int) -> Response:
    return render(
        request, "diff.html", {"a": old, "b": new, "changes": [], "error": why}, status_code=status
    )


routes = [
    Route("/routing", routing_page, methods=["GET"]),
    Route("/routing/history", history_page, methods=["GET"]),
    Route("/routing/diff", diff_page, methods=["GET"]),
]
