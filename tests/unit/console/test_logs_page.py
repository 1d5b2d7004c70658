"""The distribution logs and the lead page, on an index filled by the console's own indexer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from processor.console.index.indexer import Indexer
from processor.console.index.schema import open_index
from processor.console.web.context import ConsoleContext
from processor.console.web.leads import KafkaLeads
from processor.settings import Settings
from tests.unit.console.index_kit import (
    AUDIT,
    DAY_MS,
    RECEIPTS,
    SETTINGS,
    T0,
    Source,
    decision,
    on,
    receipt,
)

EMAIL = "ana.lima@mail.example"
WHY = [
    {"step": "profile", "profile": "leadmarket", "why": "site_id leadmarket-web"},
    {
        "step": "assignment",
        "assignment": "prime-top",
        "partner": "prime-lending",
        "matched": False,
        "failed": [
            {
                "or_set": 0,
                "field": "contact.email",
                "op": "ends_with",
                "value": ".bank",
                "actual": EMAIL,
            }
        ],
    },
    {"step": "strategy", "strategy": "highest_price", "chosen": ["harbor-finance"]},
]
pytestmark = pytest.mark.usefixtures("indexed")

GEO = {
    "lat": 40.75801,
    "lon": -73.98551,
    "source": "coords",
    "country": "US",
    "region": "NY",
    "city": "New York",
    "postcode": "10036",
    "accuracy_km": 0.1,
}
HOSTILE_TRACE = [1, "<b>x</b>", {"step": "nearest_store", "partner": "p", "distance_km": "far"}]
REOFFER = {
    "delivery_id": "lead-7-r1",
    "partner": "sunrise-credit",
    "assignment": "sunrise-all",
    "price": 30.0,
    "currency": "USD",
    "distance_km": None,
}
LEAD = {
    "lead_id": "lead-7",
    "site_id": "leadmarket-web",
    "contact": {"first_name": "Ana", "last_name": "Lima", "email": EMAIL, "phone": "+14155550100"},
    "visitor": {"ip": "203.0.113.9"},
    "fields": {"budget": 30000},
}


@pytest.fixture
def reads() -> list[tuple[str, int, int]]:
    """The input records the lead page asked for."""
    return []


@pytest.fixture
def indexed(context: ConsoleContext, client: TestClient, tmp_path: Path, reads: list[Any]) -> None:
    """25 decisions a minute apart (lead-0 oldest): harbor-finance on even ones, prime-lending
    on odd ones; lead-7 with a trace, a re-offer to sunrise-credit, and receipts; lead-3 a
    duplicate of lead-1. The lead reader serves lead-7 only."""
    records = []
    for n in range(25):
        partner = "harbor-finance" if n % 2 == 0 else "prime-lending"
        extra: dict[str, Any] = {}
        if n == 7:
            extra = {
                "trace": json.dumps(WHY),
                "source": {"topic": "leads", "partition": 0, "offset": 70},
                "geo": GEO,
            }
        if n == 3:
            extra = {"outcome": "duplicate", "duplicate_of": "lead-1", "deliveries": []}
        if n == 9:  # not as the processor writes it: anyone who may write the topic could
            extra = {
                "trace": json.dumps(HOSTILE_TRACE),
                "deliveries": [{**REOFFER, "price": float("nan")}],
            }
        made = decision(f"lead-{n}", T0 + n * 60_000, partners=[partner], price=30.0, **extra)
        records.append(on(AUDIT, n, made))
    again = decision("lead-7", T0 + DAY_MS, attempt=2, reoffer_of="lead-7-0", deliveries=[REOFFER])
    records.append(on(AUDIT, 25, again))
    ends = [
        ("lead-7-0", "lead-7", "prime-lending", "failed", T0 + 8 * 60_000, None),
        ("lead-7-0", "lead-7", "prime-lending", "reoffered", T0 + DAY_MS - 1, None),
        ("lead-7-r1", "lead-7", "sunrise-credit", "delivered", T0 + DAY_MS + 5, 30.0),
    ]
    records += [on(RECEIPTS, n, receipt(*end)) for n, end in enumerate(ends)]
    context.engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    indexer = Indexer(SETTINGS, context.engine, source=Source(records), batch=10)
    while indexer.poll_once(0):
        pass

    def reader(topic: str, partition: int, offset: int) -> Mapping[str, Any] | str:
        reads.append((topic, partition, offset))
        return LEAD if (topic, partition, offset) == ("leads", 0, 70) else "is no longer held"

    client.app.state.lead_reader = reader  # type: ignore[attr-defined]


def _leads(page: str) -> list[str]:
    table = page[page.index('id="log-results"') :]
    return re.findall(r'<a href="/leads/[^"]*">([^<]*)</a>', table)


def test_search_by_lead_id(viewer: TestClient) -> None:
    page = viewer.get("/logs", params={"lead_id": "lead-7"})
    assert page.status_code == 200
    assert _leads(page.text) == ["lead-7", "lead-7"]  # the re-offer first: newest first
    assert "sunrise-credit" in page.text and "30.00 USD" in page.text


def test_search_text_is_shown_back_escaped(viewer: TestClient) -> None:
    page = viewer.get("/logs", params={"partner": '"><script>alert(1)</script>'})
    assert page.status_code == 200 and 'id="no-results"' in page.text
    assert "<script>alert" not in page.text


def test_search_by_partner_and_outcome(viewer: TestClient) -> None:
    found = _leads(viewer.get("/logs", params={"partner": "prime-lending", "limit": "3"}).text)
    assert found == ["lead-23", "lead-21", "lead-19"]
    duplicate = viewer.get("/logs", params={"outcome": "duplicate"}).text
    assert _leads(duplicate) == ["lead-3"]


def test_the_older_link_pages_without_gaps(viewer: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/logs?partner=harbor-finance&limit=5"
    while url is not None:
        page = viewer.get(url).text
        seen += _leads(page)
        found = re.search(r'<a href="([^"]*)" id="older">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [f"lead-{n}" for n in range(24, -1, -2)]


def test_the_page_says_how_far_the_index_has_read(viewer: TestClient) -> None:
    text = viewer.get("/logs").text
    assert "26 decisions and 3 receipts" in text
    assert f"{AUDIT} to offset 26" in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"outcome": "sold"}, "Outcome: give one of"),
        ({"lead_id": "x" * 201}, "Lead id: at most 200 characters"),
        ({"limit": "500"}, "Rows: a whole number from 1 to 200"),
        ({"limit": "-1"}, "Rows: a whole number"),
        ({"since": "yesterday"}, "Since: give a UTC date and time"),
        ({"until": "2026-02-30T10:00"}, "2026-02-30T10:00&#39; is no date and time"),
        ({"before": "1,2,3"}, "the page link is broken"),
    ],
)
def test_a_bad_parameter_is_refused_with_a_message(
    viewer: TestClient, params: dict[str, str], message: str
) -> None:
    page = viewer.get("/logs", params=params)
    assert page.status_code == 400
    assert message in page.text
    assert 'id="log-results"' not in page.text


def test_a_time_span_as_a_span_back_from_now_and_as_times(viewer: TestClient) -> None:
    assert _leads(viewer.get("/logs", params={"since": "24h"}).text) == []  # T0 is long ago
    at = "2024-10-04T00:{:02d}"
    found = _leads(
        viewer.get("/logs", params={"since": at.format(10), "until": at.format(12)}).text
    )
    assert found == ["lead-11", "lead-10"]


def test_the_lead_page_explains_the_decisions(editor: TestClient, reads: list[Any]) -> None:
    page = editor.get("/leads/lead-7")
    assert page.status_code == 200
    text = page.text
    assert "<h1>" in text and "lead-7" in text
    # Why, in the words audit show uses.
    assert "profile leadmarket: site_id leadmarket-web" in text
    assert "strategy highest_price: chose harbor-finance" in text
    # Where it went and what happened: failed, re-offered (linked to the re-offer), delivered.
    assert text.index("Attempt 1") < text.index("Attempt 2")
    for status in ("failed", "reoffered", "delivered"):
        assert f'<span class="badge {status}">{status}</span>' in text
    second = re.search(r'id="decision-(\d+)"', text[text.index("Attempt 2") - 200 :])
    assert second is not None and f'href="#decision-{second.group(1)}"' in text
    re_offer = text[text.index("Attempt 2") :]
    assert "sunrise-credit</strong> by assignment sunrise-all" in re_offer
    assert '<span class="badge delivered">' in re_offer and "30.00 USD" in re_offer
    assert "Other receipts" not in text  # every receipt is under its delivery
    assert reads == [("leads", 0, 70)]


def test_an_editor_sees_the_lead_as_published(editor: TestClient) -> None:
    text = editor.get("/leads/lead-7").text
    assert "US, NY, New York (40.75801, -73.98551)" in text
    assert EMAIL in text and "+14155550100" in text and "203.0.113.9" in text
    assert "Personal data masked for viewers" not in text


def test_a_viewer_sees_personal_data_masked(viewer: TestClient) -> None:
    text = viewer.get("/leads/lead-7").text
    assert "a***@mail.example" in text and "•••• 0100" in text and "203.0.113.x" in text
    assert "A***" in text and "L***" in text
    for secret in (EMAIL, "Lima", "5550100", "203.0.113.9", "40.758", "73.985", "New York"):
        assert secret not in text, secret  # nor in the trace or its explanation
    assert "Personal data masked for viewers" in text
    assert "US, NY (40.8, -74.0)" in text  # a region, coordinates to a tenth of a degree


def test_a_lead_gone_from_the_input_topic_says_so(viewer: TestClient) -> None:
    text = viewer.get("/leads/lead-1").text
    assert "The input record leads[0]@7 is no longer held." in text


def test_a_trace_the_processor_did_not_write_is_shown_as_recorded(viewer: TestClient) -> None:
    page = viewer.get("/leads/lead-9")
    assert page.status_code == 200
    assert "its trace is not one the processor writes" in page.text
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


def test_a_duplicate_links_to_the_lead_it_repeats(viewer: TestClient) -> None:
    text = viewer.get("/leads/lead-3").text
    assert 'href="/leads/lead-1"' in text


def test_a_lead_not_indexed_is_404_and_says_how_much_is(viewer: TestClient) -> None:
    page = viewer.get("/leads/nobody")
    assert page.status_code == 404
    assert "holds 26 decisions" in page.text


def test_a_hostile_lead_id_is_escaped_or_refused(viewer: TestClient) -> None:
    hostile = viewer.get("/leads/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert hostile.status_code == 404
    assert "<script>alert" not in hostile.text and "&lt;script&gt;" in hostile.text
    assert viewer.get("/leads/" + "x" * 201).status_code == 400


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in ("/logs", "/leads/lead-7"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_decision_naming_a_record_of_another_topic_is_not_read() -> None:
    """Its page says `The input record audit[0]@3 is not a record of leads.` without asking
    Kafka (no broker here: a read would fail differently)."""
    read = KafkaLeads(Settings(input_topic="leads", bootstrap_servers="127.0.0.1:1"))
    assert read("audit", 0, 3) == "is not a record of leads"
    assert read("leads", -1, 3) == "is not a record of leads"
