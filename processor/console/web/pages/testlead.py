"""Test a lead: decide one pasted lead as ``dry-run`` does, against the rules in force or a draft.

The lead is decided with routing memory that starts empty (no cap used, no lead seen before), by
the same :class:`~processor.routing.Router` the processor uses, and explained in the words
``audit show`` prints. Nothing is written anywhere. The pasted text is hostile input: bounded,
parsed as JSON, checked as the processor checks a decoded lead, and refused with a message.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from processor.app import enricher_for
from processor.console.drafts import Drafts, document_of
from processor.console.web.context import ConsoleContext, made_once
from processor.console.web.pages.draft import drafts_of
from processor.console.web.templating import render
from processor.demo.leads import sample_leads
from processor.geo.enrich import Enricher
from processor.routing import SURROGATE, Router, fresh_ledger, is_unicode
from processor.rules import Decision, RulesInvalid, Snapshot, compile_rules
from processor.rules.explain import explain_text
from processor.settings import Settings
from processor.wire import InvalidLead

MAX_LEAD_BYTES = 64 * 1024
"""The longest lead text taken: a lead on the wire is a few kilobytes."""

DRAFT_VERSION = "draft"
"""The rules version a decision against a draft names: the draft was never applied."""

Choice = Literal["live", "draft"]


class Refused(ValueError):
    """Why a test cannot be run, in words for the page."""


def sample_lead() -> str:
    """A realistic lead of the demo's, to start from: a dealer lead asking about new models."""
    lead = next(islice(sample_leads(2), 1, None))
    return json.dumps(lead, indent=2, ensure_ascii=False)


def parse_lead(text: str) -> dict[str, Any]:
    """The pasted lead as a JSON object; :class:`Refused` saying what is wrong with it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LEAD_BYTES:
        raise Refused(f"the lead is longer than {MAX_LEAD_BYTES // 1024} KiB")
    if not text.strip():
        raise Refused("paste a lead as a JSON object")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise Refused(f"the lead is not valid JSON: {error}") from None
    except RecursionError:
        raise Refused("the lead is not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise Refused(f"a lead is a JSON object, not {type(value).__name__}")
    if not is_unicode(value):
        raise Refused(SURROGATE)
    return value


@dataclass(frozen=True)
class Tried:
    """A decision as the page shows it."""

    decision: Decision
    explanation: str
    trace: tuple[str, ...]


class LeadTester:
    """Decides tried leads: one enricher for the console's life (it takes a second or two to
    load its postcodes), used by one request at a time, as enrichment is not shared between
    threads anywhere else either."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._enricher: Enricher | None = None

    def decide(self, snapshot: Snapshot, lead: dict[str, Any]) -> Tried:
        """``lead`` decided by ``snapshot`` with fresh routing memory; blocks: call it from a
        worker thread."""
        memory_days = self._settings.rules.lead_id_memory_days
        with self._lock:
            if self._enricher is None:
                self._enricher = enricher_for(self._settings.geo)
            try:
                decision = Router(self._enricher).route_json(
                    snapshot, lead, fresh_ledger(memory_days)
                )
            except InvalidLead as error:
                raise Refused(f"the processor would dead-letter this lead: {error}") from None
        shown = decision.as_dict()
        return Tried(
            decision,
            explain_text(decision.outcome, shown["trace"], shown),
            tuple(json.dumps(entry, ensure_ascii=False) for entry in shown["trace"]),
        )


def lead_tester(request: Request) -> LeadTester:
    """The application's lead tester."""
    return made_once(request, "lead_tester", lambda context: LeadTester(context.settings))


def _rules(context: ConsoleContext, drafts: Drafts, user: str, choice: Choice) -> Snapshot:
    """The rules to test against, compiled; reads the drafts table: call it from a worker
    thread."""
    if choice == "live":
        if context.rules.snapshot is None:
            raise Refused("no rules version is in force yet: test against your draft instead")
        return context.rules.snapshot
    draft = drafts.get(user)
    if draft is None:
        raise Refused("you have no draft: start one on the Draft page")
    try:
        document = document_of(draft.text, context.settings.rules.rules_limits())
    except RulesInvalid as invalid:
        count = len(invalid.errors)
        raise Refused(
            f"your draft is invalid ({count} error{'s' if count != 1 else ''}): "
            "validate it on the Draft page"
        ) from None
    return compile_rules(document, DRAFT_VERSION)


async def test_page(request: Request) -> Response:
    return render(request, "test.html", {"lead_json": sample_lead(), "choice": "live"})


FIELDS = ("site_id", "interest_category", "state", "postcode", "email", "phone")
"""The main fields the simple form fills, for those who would rather not write JSON."""

MAX_FIELD_CHARS = 200


def filled_lead(form: FormData, now: datetime) -> str:
    """The lead the simple form describes, as JSON text (shown in the box to refine it)."""
    given = {name: str(form.get(name) or "").strip()[:MAX_FIELD_CHARS] for name in FIELDS}
    lead = {
        "lead_id": f"console-test-{now:%Y%m%d%H%M%S}",
        "submitted_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "site_id": given["site_id"],
        "interest_category": given["interest_category"] or None,
        "contact": {"email": given["email"] or None, "phone": given["phone"] or None},
        "address": {
            "state": given["state"] or None,
            "postcode": given["postcode"] or None,
            "country": "US",
        },
    }
    return json.dumps(lead, indent=2, ensure_ascii=False)


async def test_lead(request: Request) -> Response:
    form = await request.form()
    text = form.get("lead_json")
    text = text if isinstance(text, str) else ""
    if form.get("form") == "fields":
        text = filled_lead(form, datetime.now(UTC))
    choice: Choice = "draft" if form.get("rules") == "draft" else "live"
    shown = {"lead_json": text[:MAX_LEAD_BYTES], "choice": choice}
    try:
        lead = parse_lead(text)
        context: ConsoleContext = request.app.state.context
        user = request.state.user.name
        snapshot = await run_in_threadpool(_rules, context, drafts_of(request), user, choice)
        tried = await run_in_threadpool(lead_tester(request).decide, snapshot, lead)
    except Refused as why:
        return render(request, "test.html", {**shown, "error": str(why)}, status_code=400)
    return render(request, "test.html", {**shown, "tried": tried})


routes = [
    Route("/test", test_page, methods=["GET"]),
    Route("/test", test_lead, methods=["POST"]),
]
