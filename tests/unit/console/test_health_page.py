"""The Health page: rules in force and refused, lag, the index, dead letters, runbook links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from processor.console.index import rollup
from processor.console.index.schema import dead_letters, decisions, index_offsets, open_index
from processor.console.positions import Positions, read_positions
from processor.console.web.context import ConsoleContext
from processor.console.web.runbook import anchor
from processor.control.records import VERSION_KEY, Refused
from processor.settings import Settings

INPUT = "leads.submitted"
AUDIT = "lead-router.audit"
DECIDED_AT = 1_764_500_000_000  # 2025-11-30 10:53:20 UTC


@pytest.fixture
def indexed(context: ConsoleContext, tmp_path: Path) -> ConsoleContext:
    """An index holding two decisions, read to offset 2 of the audit topic's partition 0, and
    three dead letters of two reasons."""
    context.engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    place = {"topic": AUDIT, "partition": 0}
    dead = {"topic": "leads.submitted.dlq", "partition": 0, "at": DECIDED_AT, "day": 0}
    with context.engine.begin() as connection:
        connection.execute(
            insert(decisions),
            [
                {
                    "lead_id": f"lead-{n}",
                    "attempt": 0,
                    "outcome": "routed",
                    "trace": "[]",
                    "decided_at": DECIDED_AT - n,
                    "day": 0,
                    "offset": n,
                    **place,
                }
                for n in range(2)
            ],
        )
        connection.execute(
            insert(dead_letters),
            [
                {"reason": reason, "offset": n, **dead}
                for n, reason in enumerate(["undecodable", "undecodable", "invalid-lead"])
            ],
        )
        connection.execute(insert(index_offsets), [{"next_offset": 2, **place}])
        rollup.count(connection, {"decisions": 2, "dead_letters": 3})  # as the indexer counts
    return context


@pytest.fixture
def kafka_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka as the page would find it: the input topic's two partitions 5 and 2 records behind
    the processors' commits (one has none yet), the audit topic 7 records past the index."""
    positions = Positions(
        ends={INPUT: {0: (0, 105), 1: (0, 2)}, AUDIT: {0: (0, 9)}},
        committed={0: 100, 1: None},
    )
    monkeypatch.setattr(
        "processor.console.web.pages.health.read_positions", lambda settings, topics: positions
    )


def cells(html: str, table: str) -> list[list[str]]:
    """The text of each row of the table with id ``table``."""
    body = html[html.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
        if "<td" in row
    ]


@pytest.mark.usefixtures("indexed", "kafka_answers")
def test_health_shows_rules_lag_index_and_dead_letters(viewer: TestClient) -> None:
    page = viewer.get("/health")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Health</h1>" in html
    assert 'id="version-in-force">3<' in html and "2026-11-30T09:00:00Z" in html
    assert 'id="lag-total">7<' in html
    assert cells(html, "lag-partitions") == [["0", "100", "105", "5"], ["1", "none yet", "2", "2"]]
    assert 'id="decisions-indexed">2<' in html
    assert [AUDIT, "7"] in cells(html, "index-lag")
    assert cells(html, "dead-letters") == [
        ["undecodable", "2", "runbook"],
        ["invalid-lead", "1", "runbook"],
    ]
    assert f'href="/runbook#{anchor("LeadRouterDeadLetterRateHigh")}"' in html
    assert f'href="/runbook#{anchor("LeadRouterConsumerLagGrowing")}"' in html


@pytest.mark.usefixtures("indexed", "kafka_answers")
def test_refused_versions_and_records_link_to_their_runbook_sections(
    context: ConsoleContext, viewer: TestClient
) -> None:
    refused = context.rules.config.refused
    refused.append(Refused(VERSION_KEY, 41, "invalid", "profile acme: no such partner", "4"))
    refused.append(Refused("partner/<script>", 42, "not-json", "not a JSON object"))
    html = viewer.get("/health").text
    rows = cells(html, "refused")
    assert rows[0][:4] == [
        "",
        "partner/&lt;script&gt; at offset 42",
        "not-json",
        "not a JSON object",
    ]
    assert rows[1][:4] == [
        "4",
        "meta/version at offset 41",
        "invalid",
        "profile acme: no such partner",
    ]
    assert "<script>" not in html.split("<main>")[1]
    assert f'href="/runbook#{anchor("LeadRouterConfigRecordRefused")}"' in html
    assert f'href="/runbook#{anchor("LeadRouterRulesVersionRefused")}"' in html


@pytest.mark.usefixtures("indexed")
def test_a_kafka_that_does_not_answer_makes_lag_unknown_not_an_error(
    context: ConsoleContext, viewer: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.settings = Settings(bootstrap_servers="127.0.0.1:1")
    monkeypatch.setattr(
        "processor.console.web.pages.health.read_positions",
        lambda settings, topics: read_positions(settings, topics, timeout=0.5),
    )
    page = viewer.get("/health")
    assert page.status_code == 200
    unknown = re.search(r'id="lag-unknown">([^<]*)<', page.text)
    assert unknown and unknown.group(1).startswith("Kafka did not answer within 0.5 s")
    assert 'id="decisions-indexed">2<' in page.text  # the index still answers


def test_health_needs_a_signed_in_user(client: TestClient) -> None:
    answer = client.get("/health", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fhealth"


def test_the_runbook_has_an_anchor_for_each_section_the_page_links_to(viewer: TestClient) -> None:
    page = viewer.get("/runbook")
    assert page.status_code == 200
    for section in (
        "LeadRouterDeadLetterRateHigh",
        "LeadRouterConsumerLagGrowing",
        "LeadRouterRulesVersionRefused",
        "LeadRouterConfigRecordRefused",
        "LeadRouterNoRulesLoaded",
    ):
        assert f'<h2 id="{anchor(section)}">{section}</h2>' in page.text
    assert "<h1" in page.text and 'href="rules.md' not in page.text


def test_anchors_are_those_github_gives() -> None:
    assert (
        anchor("Delivery retries, re-offers and returns")
        == "delivery-retries-re-offers-and-returns"
    )
