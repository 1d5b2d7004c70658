"""Test a lead and drafts, without Kafka: deciding, refusing bad leads, validating and linting."""

from __future__ import annotations

import html
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from processor.console.web.context import ConsoleContext
from processor.console.web.pages.draft import out_of_time
from processor.console.web.pages.testlead import sample_lead
from processor.replay.run import Progress
from tests.unit.console.conftest import DEMO_RULES, csrf_of


@pytest.fixture(autouse=True)
def file_database(context: ConsoleContext, tmp_path: Path) -> None:
    """Drafts live in the console's database: a file, as worker threads each open a connection."""
    context.engine = create_engine(f"sqlite:///{tmp_path / 'console.sqlite3'}")


def _test(client: TestClient, lead: str, rules: str = "live") -> tuple[int, str]:
    token = csrf_of(client, "/test")
    answer = client.post("/test", data={"lead_json": lead, "rules": rules, "csrf_token": token})
    return answer.status_code, html.unescape(answer.text)


def _draft(client: TestClient, action: str, text: str, **fields: str) -> tuple[int, str]:
    token = csrf_of(client, "/draft")
    data = {"draft_text": text, "csrf_token": token, "based_on": "3", **fields}
    answer = client.post(f"/draft/{action}", data=data)
    return answer.status_code, html.unescape(answer.text)


def test_the_page_starts_from_a_demo_lead(viewer: TestClient) -> None:
    page = html.unescape(viewer.get("/test").text)
    assert 'id="lead-json"' in page and 'id="rules-choice"' in page
    assert json.loads(sample_lead())["lead_id"] in page


def test_a_demo_lead_is_decided_and_explained(viewer: TestClient) -> None:
    status, page = _test(viewer, sample_lead())
    assert status == 200
    assert '<span id="outcome" class="badge routed">routed</span>' in page
    explanation = page.split('id="explanation">', 1)[1].split("</pre>", 1)[0]
    assert explanation.startswith("lead lead-000001: routed to metro-")
    assert "profile metro-auto" in explanation
    assert "nearest store" in explanation


def test_a_lead_nothing_matches_goes_to_the_fallback(viewer: TestClient) -> None:
    lead = {"lead_id": "cheap-1", "submitted_at": "2026-11-30T10:00:00Z", "site_id": "leadmarket"}
    status, page = _test(viewer, json.dumps(lead))
    assert status == 200
    assert 'class="badge fallback">fallback</span>' in page
    assert "market-house at 5.00 USD" in page


def test_a_lead_filled_in_field_by_field_is_decided(viewer: TestClient) -> None:
    fields = {"site_id": "metro-auto-web", "interest_category": "Used Vehicles", "state": "MA"}
    token = csrf_of(viewer, "/test")
    answer = viewer.post("/test", data={"form": "fields", "csrf_token": token, **fields})
    page = html.unescape(answer.text)
    assert answer.status_code == 200
    assert '"state": "MA"' in page  # the lead built, in the box to refine it
    assert "assignment used-ma" in page


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "the lead is not valid JSON"),
        ("[1, 2]", "a lead is a JSON object, not list"),
        ("", "paste a lead as a JSON object"),
        ('{"lead_id": "x\\ud800"}', "half of a surrogate pair"),
        ('{"site_id": "leadmarket"}', "the processor would dead-letter this lead"),
        ("[" * 100_000 + "]" * 100_000, "longer than 64 KiB"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deeply"),
    ],
)
def test_a_bad_lead_is_refused_with_a_message(viewer: TestClient, text: str, why: str) -> None:
    status, page = _test(viewer, text)
    assert status == 400
    assert why in page
    assert "Traceback" not in page


def test_an_invalid_lead_with_an_id_is_decided_rejected(viewer: TestClient) -> None:
    lead = {"lead_id": "bad-1", "submitted_at": "yesterday", "site_id": "leadmarket"}
    status, page = _test(viewer, json.dumps(lead))
    assert status == 200
    assert 'class="badge rejected">rejected</span>' in page


def test_a_viewer_reads_the_draft_page_but_may_not_apply(viewer: TestClient) -> None:
    page = viewer.get("/draft").text
    assert 'id="read-only"' in page and "readonly" in page
    token = csrf_of(viewer, "/draft")
    for action in ("apply", "save", "validate", "lint", "what-if", "discard"):
        answer = viewer.post(f"/draft/{action}", data={"draft_text": "x", "csrf_token": token})
        assert answer.status_code == 403, action
        assert "Only editors may do this" in answer.text


def test_the_draft_starts_as_the_rules_in_force_and_is_kept(editor: TestClient) -> None:
    page = html.unescape(editor.get("/draft").text)
    assert "id: prime-lending" in page and "strategy: highest_price" in page
    text = DEMO_RULES.read_text().replace("price: 60.0", "price: 65.0")
    status, _ = _draft(editor, "save", text)
    assert status == 200
    page = html.unescape(editor.get("/draft").text)
    assert "price: 65.0" in page and "started from version 3" in page
    _draft(editor, "save", text.replace("price: 65.0", "price: 70.0"), based_on="4")
    page = html.unescape(editor.get("/draft").text)
    assert "price: 70.0" in page and "started from version 3" in page  # the apply expects 3


def test_validation_lists_every_error_with_its_path(editor: TestClient) -> None:
    broken = DEMO_RULES.read_text().replace("strategy: highest_price", "strategy: cheapest")
    broken = broken.replace("format: text", "format: telex")
    status, page = _draft(editor, "validate", broken)
    assert status == 200
    errors = page.split('id="draft-errors"', 1)[1].split("</table>", 1)[0]
    assert "profiles[1].strategy" in errors and "unknown strategy 'cheapest'" in errors
    assert "partners[3].format" in errors


def test_a_draft_of_one_line_is_rules_text_never_a_file_path(editor: TestClient) -> None:
    status, page = _draft(editor, "validate", str(DEMO_RULES))
    assert status == 200
    assert 'id="draft-errors"' in page
    assert "metro-manhattan" not in page.split('id="draft-errors"', 1)[1]


def test_a_valid_draft_validates_with_a_summary(editor: TestClient) -> None:
    status, page = _draft(editor, "validate", DEMO_RULES.read_text())
    assert status == 200
    assert "valid: 10 partners, 2 profiles, 13 assignments" in page
    assert "Your saved draft, started from version 3" in page
    assert 'id="draft-errors"' not in page


def test_lint_lists_its_findings(editor: TestClient) -> None:
    text = DEMO_RULES.read_text().replace(
        'destinations: ["file://deliveries/budget-brokers"]', "destinations: []"
    )
    status, page = _draft(editor, "lint", text)
    assert status == 200
    findings = page.split('id="lint-findings"', 1)[1].split("</table>", 1)[0]
    assert "no-destinations" in findings and "partners[8]" in findings


def test_a_lead_is_decided_by_the_editors_draft_when_asked(editor: TestClient) -> None:
    text = DEMO_RULES.read_text().replace(
        "fallback: {partner: market-house, price: 5.0}",
        "fallback: {partner: market-house, price: 7.5}",
    )
    _draft(editor, "save", text)
    lead = {"lead_id": "cheap-2", "submitted_at": "2026-11-30T10:00:00Z", "site_id": "leadmarket"}
    status, page = _test(editor, json.dumps(lead), "draft")
    assert status == 200
    assert "market-house at 7.50 USD" in page and "rules version draft" in page
    status, page = _test(editor, json.dumps(lead), "live")
    assert "market-house at 5.00 USD" in page


def test_testing_against_no_draft_says_so(editor: TestClient) -> None:
    status, page = _test(editor, sample_lead(), "draft")
    assert status == 400
    assert "you have no draft" in page


def test_a_what_if_span_longer_than_a_week_is_refused(editor: TestClient) -> None:
    status, page = _draft(editor, "what-if", DEMO_RULES.read_text(), span="30d")
    assert status == 400
    assert "longer than 7 days" in page


def test_one_what_if_runs_at_a_time(editor: TestClient) -> None:
    running = threading.Lock()
    editor.app.state.what_if_running = running  # type: ignore[attr-defined]
    with running:  # another editor's what-if
        status, page = _draft(editor, "what-if", DEMO_RULES.read_text(), span="1h")
    assert status == 400
    assert "another what-if is running on this console" in page


def test_a_what_if_out_of_time_says_how_far_it_got() -> None:
    stopped = out_of_time(120, Progress("reading the state", 20_000, None))
    assert str(stopped) == (
        "the what-if stopped after 120 s, reading the state (20,000 read): try a shorter span, "
        "or `lead-router replay` from a shell, which has no time limit"
    )
    assert "routing (2,000 of 5,000 read)" in str(
        out_of_time(120, Progress("routing", 2_000, 5_000))
    )
    assert str(out_of_time(1.5, None)).startswith("the what-if stopped after 1.5 s: try")


def test_a_request_without_the_token_is_refused(editor: TestClient) -> None:
    answer = editor.post("/test", data={"lead_json": sample_lead()})
    assert answer.status_code == 403
