"""The Routing page from the demo's rules: conditions in words, tiers in order, caps' use now."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from processor.console.routing_state import RoutingState
from processor.console.web.context import ConsoleContext
from processor.control.state import ConfigState
from processor.errors import ServiceUnavailable
from processor.geo.enrich import Enricher
from processor.routing import Router
from processor.rules import Ledger, MemoryStore
from processor.settings import Settings
from tests.unit.console.conftest import DEMO_RULES, StaticRules


def _reading(stores: dict[int, MemoryStore]) -> RoutingState:
    return RoutingState(lambda settings, timeout: stores)


def _unreadable(settings: Settings, timeout: float) -> dict[int, MemoryStore]:
    raise ServiceUnavailable("Kafka at broker:9092 did not answer")


def _section(page: str, element_id: str) -> str:
    """The HTML of the element with ``element_id`` up to the end of its table or section."""
    start = page.index(f'id="{element_id}"')
    ends = [page.find(end, start) for end in ("</table>", "</section>")]
    return page[start : min(end for end in ends if end > 0)]


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


@pytest.fixture
def page(editor: TestClient) -> str:
    editor.app.state.routing_state = _reading({})  # type: ignore[attr-defined]
    answer = editor.get("/routing")
    assert answer.status_code == 200
    return answer.text


def test_filters_read_as_or_sets_of_and_conditions(page: str) -> None:
    market = _text(_section(page, "assignments-leadmarket"))
    assert (
        "budget >= 40000 AND credit_score >= 700 OR address.state is one of CA, NY AND " in market
    )
    assert "lead_type is refinance AND credit_score is between 600 and 760" in market
    metro = _text(_section(page, "assignments-metro-auto"))
    assert "address.state is one of NY, NJ, CT" in metro
    assert "every lead of the tier" in metro


def test_assignments_come_in_the_order_the_engine_meets_them(page: str) -> None:
    metro = _section(page, "assignments-metro-auto")
    ids = re.findall(r"<td>((?:service|new|used|any)-[a-z]+)</td>", metro)
    assert ids.index("service-desk") < ids.index("used-ny") < ids.index("any-manhattan")
    assert ids[-3:] == ["any-manhattan", "any-boston", "any-philadelphia"]
    profile = _text(_section(page, "profile-metro-auto"))
    assert "its category's (Service | New Models | Used Vehicles) → ALL → fallback" in profile


def test_strategy_prices_and_fallback_are_shown(page: str) -> None:
    market = _text(_section(page, "profile-leadmarket"))
    assert "highest_price" in market
    assert "market-house at 5.00 USD" in market
    assert "60.00 USD" in market  # prime-big-budget's own price
    assert "25.00 USD" in market  # budget-any takes the profile's base price
    assert "first_match" in _text(_section(page, "profile-metro-auto"))
    assert "metro-bdc at 0.00 USD" in _text(_section(page, "profile-metro-auto"))


def test_a_cap_shows_its_use_now_and_when_it_resets(
    editor: TestClient, context: ConsoleContext
) -> None:
    snapshot = context.rules.snapshot
    assert snapshot is not None
    store = MemoryStore()
    ledger = Ledger(store)
    now = datetime.now(UTC).isoformat()
    enricher = Enricher()
    router = Router(enricher)
    try:
        for n in range(2):
            lead = {
                "lead_id": f"big-{n}",
                "submitted_at": now,
                "site_id": "leadmarket",
                "contact": {"email": f"p{n}@example.com"},
                "address": {"state": "NY"},
                "fields": {"budget": 50_000, "credit_score": 720},
            }
            decision = router.route_json(snapshot, lead, ledger)
            assert [d.partner for d in decision.deliveries] == ["prime-lending"]
    finally:
        enricher.close()
    editor.app.state.routing_state = _reading({0: store})  # type: ignore[attr-defined]
    partners = _text(_section(editor.get("/routing").text, "partners"))
    assert re.search(r"2 of 3 leads per day, resets \d{4}-\d\d-\d\d \d\d:00 UTC", partners)


def test_a_cap_whose_use_cannot_be_read_says_why_and_the_page_still_shows(
    editor: TestClient,
) -> None:
    editor.app.state.routing_state = RoutingState(_unreadable)  # type: ignore[attr-defined]
    answer = editor.get("/routing")
    assert answer.status_code == 200
    assert "3 leads per day (use unknown: Kafka at broker:9092 did not answer)" in answer.text


def test_destinations_are_shown_without_credentials_or_query(
    editor: TestClient, context: ConsoleContext
) -> None:
    text = DEMO_RULES.read_text().replace(
        '"file://deliveries/prime-lending"', '"https://lender:s3cret@crm.example/hook?token=abc"'
    )
    context.rules = StaticRules(text)
    editor.app.state.routing_state = _reading({})  # type: ignore[attr-defined]
    partners = _section(editor.get("/routing").text, "partners")
    assert "https://crm.example/hook" in partners
    assert "s3cret" not in partners and "token" not in partners


class _NoRules:
    snapshot = None
    config = ConfigState(max_bytes=1_000)


def test_without_rules_in_force_the_page_says_so(
    editor: TestClient, context: ConsoleContext
) -> None:
    context.rules = _NoRules()
    answer = editor.get("/routing")
    assert answer.status_code == 200
    assert "No rules in force yet" in answer.text


def test_a_diff_side_that_is_no_version_is_refused_with_a_message(viewer: TestClient) -> None:
    answer = viewer.get("/routing/diff", params={"a": "<script>", "b": "live"})
    assert answer.status_code == 404
    assert "is neither a version number nor live" in answer.text
    assert "<script>" not in answer.text


def test_the_version_in_force_against_itself_has_no_changes(viewer: TestClient) -> None:
    answer = viewer.get("/routing/diff", params={"a": "live", "b": "live"})
    assert answer.status_code == 200
    assert "no changes" in answer.text
    assert 'id="diff"' in answer.text


def test_a_partner_closed_today_shows_closed_and_why(
    editor: TestClient, context: ConsoleContext
) -> None:
    today = datetime.now(UTC).date().isoformat()
    schedule = (
        f'schedule: {{mon-sun: ["00:00-24:00"], closed_dates: ["{today}"]}}\n'
        '    destinations: ["file://deliveries/sunrise-credit"]'
    )
    text = DEMO_RULES.read_text().replace(
        'destinations: ["file://deliveries/sunrise-credit"]', schedule
    )
    context.rules = StaticRules(text)
    editor.app.state.routing_state = _reading({})  # type: ignore[attr-defined]
    page = editor.get("/routing").text
    row = page.split('id="partner-sunrise-credit"', 1)[1].split("</tr>", 1)[0]
    assert "is a closed date" in html.unescape(row)
    assert '<span class="badge closed"' in row
    assert f"mon-sun 00:00-24:00; closed {today} (UTC)" in row
    other = page.split('id="partner-harbor-finance"', 1)[1].split("</tr>", 1)[0]
    assert "always open" in other and '<span class="badge open">' in other


def test_routing_state_is_read_once_for_the_pages_that_ask_within_a_few_seconds(
    context: ConsoleContext,
) -> None:
    reads: list[float] = []

    def read(settings: Settings, timeout: float) -> dict[int, MemoryStore]:
        reads.append(timeout)
        return {}

    state = RoutingState(read, timeout=2.0, keep_s=60.0)
    snapshot = context.rules.snapshot
    assert snapshot is not None
    for _ in range(3):
        report, why = state.report(context.settings, snapshot, datetime.now(UTC))
        assert report is not None and why == ""
    assert reads == [2.0]
    fresh = RoutingState(read, keep_s=0.0)
    for _ in range(2):
        fresh.report(context.settings, snapshot, datetime.now(UTC))
    assert len(reads) == 3, "kept for no time, each page reads again"
