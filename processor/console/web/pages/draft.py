"""Drafts: an editor writes a change to the rules, validates, lints and tries it, then applies it.

Each action posts the draft's text and saves it first, so nothing typed is lost to a refusal.
Applying is compare-and-set against the version the draft was started from: when someone applied
another version meanwhile, the apply is refused with a link to what changed, never merged. The
what-if replays the input topic over a past span, which reads Kafka for seconds or minutes: it
runs in a worker thread, one at a time per console, stopped after
``LEAD_ROUTER_CONSOLE_WHAT_IF_TIMEOUT_S``; the span and the leads listed are bounded. The drafts
table is read and written in worker threads too: a SQLite index busy with the indexer's write (up
to its busy timeout) would otherwise hold every page of the console while it waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.console.drafts import Draft, Drafts, document_of
from processor.console.web import app as web
from processor.console.web.context import ConsoleContext, made_once
from processor.console.web.templating import render
from processor.control.publisher import VersionConflict, publish_rules
from processor.control.records import version_number
from processor.errors import InvalidInput, UserError
from processor.kafka.span import parse_span
from processor.kafka.streams import OutOfTime
from processor.replay.report import Report, described
from processor.replay.run import Progress, replay
from processor.rules import (
    RuleError,
    RulesDocument,
    RulesInvalid,
    document_to_parts,
    lint,
)
from processor.rules.dump import document_text

MAX_SPAN = timedelta(days=7)
DEFAULT_SPAN = "24h"
CHANGES_SHOWN = 200
"""Changed leads listed on the page; the report counts all of them."""


def drafts_of(request: Request) -> Drafts:
    """The console's drafts table."""
    return made_once(request, "drafts", lambda context: Drafts(context.engine))


def _in_force(context: ConsoleContext) -> str:
    """The version in force, "0" when there is none (as ``--expect-version`` names it)."""
    record = context.rules.config.in_force
    return record.version if record is not None else "0"


def _current_text(context: ConsoleContext) -> str:
    document = context.rules.config.document
    if document is None:
        return "partners: []\nprofiles: []\n"
    return document_text(document_to_parts(document), "yaml")


async def draft_page(request: Request) -> Response:
    context: ConsoleContext = request.app.state.context
    draft = await run_in_threadpool(drafts_of(request).get, request.state.user.name)
    if draft is None:
        text, based_on = _current_text(context), _in_force(context)
    else:
        text, based_on = draft.text, draft.based_on_version or "0"
    return _page(request, text, based_on, {"saved": draft is not None})


def _page(
    request: Request, text: str, based_on: str, shown: dict[str, Any], status_code: int = 200
) -> Response:
    context: ConsoleContext = request.app.state.context
    return render(
        request,
        "draft.html",
        {
            "draft_text": text,
            "based_on": based_on,
            "in_force": _in_force(context),
            "span": DEFAULT_SPAN,
            "saved": True,  # every post saves the draft first
            **shown,
        },
        status_code=status_code,
    )


def _form_text(form: FormData, name: str, limit: int) -> str:
    """A text field of the form; a 413 page when it is longer than ``limit`` characters."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if len(value) > limit:
        raise HTTPException(
            413, f"The {name.replace('_', ' ')} is longer than {limit:,} characters."
        )
    return value


async def _saved(request: Request) -> Draft:
    """The posted draft, saved for the signed-in editor (a viewer is stopped here)."""
    web.require_editor(request)
    context: ConsoleContext = request.app.state.context
    form = await request.form()
    limits = context.settings.rules.rules_limits()
    text = _form_text(form, "draft_text", limits.max_bytes)
    posted = _form_text(form, "based_on", 20)
    started_from = posted if version_number(posted) is not None else _in_force(context)
    return await run_in_threadpool(
        _save, drafts_of(request), request.state.user.name, text, started_from
    )


def _save(drafts: Drafts, user: str, text: str, started_from: str) -> Draft:
    """Saves ``text`` as the user's draft; a draft already started keeps the version it was
    started from, so that applying it still expects that one."""
    existing = drafts.get(user)
    based_on = existing.based_on_version if existing is not None else started_from
    return drafts.save(user, text, based_on)


def _valid(request: Request, draft: Draft) -> RulesDocument | list[RuleError]:
    context: ConsoleContext = request.app.state.context
    try:
        return document_of(draft.text, context.settings.rules.rules_limits())
    except RulesInvalid as invalid:
        return invalid.errors


def _summary(document: RulesDocument) -> str:
    assignments = sum(len(profile.assignments) for profile in document.profiles)
    return (
        f"valid: {len(document.partners)} partners, {len(document.profiles)} profiles, "
        f"{assignments} assignments"
    )


async def save(request: Request) -> Response:
    draft = await _saved(request)
    return _page(request, draft.text, draft.based_on_version or "0", {"message": "Draft saved."})


async def validate(request: Request) -> Response:
    draft = await _saved(request)
    found = _valid(request, draft)
    shown: dict[str, Any] = (
        {"errors": found} if isinstance(found, list) else {"message": _summary(found)}
    )
    return _page(request, draft.text, draft.based_on_version or "0", shown)


async def lint_draft(request: Request) -> Response:
    draft = await _saved(request)
    found = _valid(request, draft)
    if isinstance(found, list):
        return _page(request, draft.text, draft.based_on_version or "0", {"errors": found})
    findings = lint(found)
    return _page(
        request,
        draft.text,
        draft.based_on_version or "0",
        {"findings": findings, "message": f"{_summary(found)}; {len(findings)} lint findings"},
    )


@dataclass(frozen=True)
class WhatIf:
    """A replay's report as the page shows it."""

    span: str
    report: Report
    partners: list[dict[str, Any]]
    changes: list[tuple[str, str, str]]
    """Lead id, before and after in words, of the first :data:`CHANGES_SHOWN` changed leads."""


class WhatIfRefused(UserError):
    """A what-if not run, or stopped: another is running, or it ran out of time."""


def out_of_time(seconds: float, reached: Progress | None) -> WhatIfRefused:
    """Why a what-if stopped at its deadline, with how far it got when it last said."""
    where = ""
    if reached is not None:
        of = f" of {reached.total:,}" if reached.total else ""
        where = f", {reached.step} ({reached.done:,}{of} read)"
    return WhatIfRefused(
        f"the what-if stopped after {seconds:g} s{where}: try a shorter span, or "
        "`lead-router replay` from a shell, which has no time limit"
    )


def _what_if(
    context: ConsoleContext, running: threading.Lock, document: RulesDocument, span: str
) -> WhatIf:
    length = parse_span(span)
    if length > MAX_SPAN:
        raise InvalidInput(f"the span {span} is longer than {MAX_SPAN.days} days")
    if not running.acquire(blocking=False):
        raise WhatIfRefused("another what-if is running on this console: try again when it ends")
    seconds = context.settings.console.console_what_if_timeout_s
    reached: dict[str, Progress] = {}  # the last progress the replay told
    try:
        report = replay(
            context.settings,
            document,
            datetime.now(UTC) - length,
            progress=lambda progress: reached.update(last=progress),
            deadline=time.monotonic() + seconds,
        )
    except OutOfTime:
        raise out_of_time(seconds, reached.get("last")) from None
    finally:
        running.release()
    return WhatIf(
        span,
        report,
        report.as_dict()["partners"],
        [
            (change.lead_id, described(change.before), described(change.after))
            for change in report.changes[:CHANGES_SHOWN]
        ],
    )


async def what_if(request: Request) -> Response:
    draft = await _saved(request)
    based_on = draft.based_on_version or "0"
    span = _form_text(await request.form(), "span", 12).strip() or DEFAULT_SPAN
    found = _valid(request, draft)
    if isinstance(found, list):
        return _page(request, draft.text, based_on, {"errors": found, "span": span})
    try:
        running = made_once(request, "what_if_running", lambda _: threading.Lock())
        result = await run_in_threadpool(_what_if, request.app.state.context, running, found, span)
    except UserError as error:
        return _page(request, draft.text, based_on, {"error": str(error), "span": span}, 400)
    return _page(request, draft.text, based_on, {"what_if": result, "span": span})


async def apply(request: Request) -> Response:
    draft = await _saved(request)
    context: ConsoleContext = request.app.state.context
    based_on = draft.based_on_version or "0"
    found = _valid(request, draft)
    if isinstance(found, list):
        return _page(request, draft.text, based_on, {"errors": found}, 400)
    user = request.state.user.name
    try:
        result = await run_in_threadpool(
            publish_rules,
            context.settings,
            found,
            expect_version=based_on,
            applied_by=f"{user} (console)",
        )
    except VersionConflict as conflict:
        refused = {"error": str(conflict), "conflict": based_on}
        return _page(request, draft.text, based_on, refused, 409)
    except InvalidInput as error:  # too large for the config topic, say
        return _page(request, draft.text, based_on, {"error": str(error)}, 400)
    except UserError as error:  # ApplyFailed, the broker away
        return _page(request, draft.text, based_on, {"error": str(error)}, 503)
    await run_in_threadpool(drafts_of(request).discard, user)
    message = (
        f"Nothing to apply: the draft is version {result.version}, in force."
        if result.unchanged
        else f"Version {result.version} applied."
    )
    shown: dict[str, Any] = {"applied": result.version, "message": message, "saved": False}
    return _page(request, draft.text, result.version, shown)


async def discard(request: Request) -> Response:
    web.require_editor(request)
    context: ConsoleContext = request.app.state.context
    await run_in_threadpool(drafts_of(request).discard, request.state.user.name)
    shown = {"message": "Draft discarded.", "saved": False}
    return _page(request, _current_text(context), _in_force(context), shown)


routes = [
    Route("/draft", draft_page, methods=["GET"]),
    Route("/draft/save", save, methods=["POST"]),
    Route("/draft/validate", validate, methods=["POST"]),
    Route("/draft/lint", lint_draft, methods=["POST"]),
    Route("/draft/what-if", what_if, methods=["POST"]),
    Route("/draft/apply", apply, methods=["POST"]),
    Route("/draft/discard", discard, methods=["POST"]),
]
