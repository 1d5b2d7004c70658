"""A delivery's whole life on the real broker: the processor, the partners' workers, HTTP endpoints.

The other delivery tests drive one part each (the worker's retries, the decide stage's re-offers and
returns, the returns intake); these run them together, as an operator would: a partner whose
endpoint is down for good gives the lead up after its retries and the next buyer gets it once; a
partner returns a lead with ``lead-router return`` and its capped buyer takes the next lead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deliverykit import Endpoint, working
from streamkit import apply_rules, publish, reading, running

from processor.cli import main
from processor.rules.deliveries import delivery_id
from processor.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(stream_settings: Settings, unique: str, tmp_path: Path) -> Settings:
    return stream_settings.with_changes(
        receipts_topic=f"receipts-{unique}",
        returns_topic=f"returns-{unique}",
        retry_topic_prefix=f"retry-{unique}.",
        delivery_dlq_topic=f"deliveries-dlq-{unique}",
        deliveries_dir=tmp_path,
        delivery_attempts=1,
        delivery_timeout_ms=5000,
    )


def rules(http: Endpoint, first: dict[str, Any], second: dict[str, Any]) -> str:
    """A market selling first to ``first`` (30 USD), then to ``second`` (20 USD)."""
    return json.dumps(
        {
            "partners": [
                {"id": "first", "format": "json", "destinations": [http.url("/first")], **first},
                {"id": "second", "format": "json", "destinations": [http.url("/second")], **second},
            ],
            "profiles": [
                {
                    "id": "market",
                    "sources": ["market"],
                    "currency": "USD",
                    "assignments": [
                        {"id": "a", "partner": "first", "price": 30},
                        {"id": "b", "partner": "second", "price": 20},
                    ],
                }
            ],
        }
    )


def lead(lead_id: str) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "submitted_at": datetime.now(UTC).isoformat(),
        "site_id": "market",
    }


def test_a_partner_that_never_takes_the_lead_gives_it_up_and_the_next_buyer_gets_it_once(
    settings: Settings, http: Endpoint
) -> None:
    http.answer("/first", then=503)
    apply_rules(
        settings,
        rules(http, {"delivery": {"retries": ["1s", "1s"], "on_exhausted": "reoffer"}}, {}),
    )
    given_up = delivery_id("lead-1", "first")
    taken = delivery_id("lead-1", "second")
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(settings, settings.topics.receipts_topic, "DeliveryReceipt") as receipts,
        running(settings),
        working(settings, "first"),
        working(settings, "second"),
    ):
        publish(settings, [lead("lead-1")])
        (accepted,) = http.wait_for("/second", 1)
        first, again = audit.wait_for(2)
        written = receipts.wait_for(4)
        # Nothing more comes: no second re-offer, no second delivery.
        receipts.read_for(3)
        audit.read_for(0.5)
        assert len(receipts.drain()) == 4 and len(audit.drain()) == 2

    assert len(http.to("/first")) == 3, "the first try and two retries"
    assert {r.headers["Idempotency-Key"] for r in http.to("/first")} == {given_up}
    assert accepted.headers["Idempotency-Key"] == taken
    assert [d["partner"] for d in first["deliveries"]] == ["first"]
    assert (first["attempt"], again["attempt"], again["reoffer_of"]) == (1, 2, given_up)
    assert [d["partner"] for d in again["deliveries"]] == ["second"]
    # A delivery's receipts share its key, so they are in order; two deliveries' need not be.
    by_first = [(r["status"], r["attempts"]) for r in written if r["partner"] == "first"]
    assert by_first == [("retrying", 1), ("retrying", 2), ("reoffered", 3)]
    (handed_back,) = (r for r in written if r["status"] == "reoffered")
    assert handed_back["reason"].startswith("exhausted")
    (delivered,) = (r for r in written if r["partner"] == "second")
    assert (delivered["status"], delivered["attempts"], delivered["revenue"]) == (
        "delivered",
        1,
        20.0,
    )


def test_a_return_within_the_window_is_credited_and_frees_the_cap_unit(
    settings: Settings, http: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_rules(settings, rules(http, {"caps": [{"per": "day", "leads": 1}]}, {}))
    returned = delivery_id("lead-1", "first")
    flags = [
        "--bootstrap-servers",
        settings.kafka.bootstrap_servers,
        "--returns-topic",
        settings.topics.returns_topic,
        "--receipts-topic",
        settings.topics.receipts_topic,
    ]
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
        working(settings, "first"),
        working(settings, "second"),
    ):
        publish(settings, [lead("lead-1"), lead("lead-2")])
        http.wait_for("/first", 1)
        http.wait_for("/second", 1)
        assert main(["return", returned, "--reason", "wrong number", *flags]) == 0
        credited = capsys.readouterr().out
        publish(settings, [lead("lead-3")])
        http.wait_for("/first", 2)
        assert main(["return", returned, "--reason", "again", *flags]) == 1
        refused = capsys.readouterr().out
        decisions = audit.wait_for(3)

    assert [[d["partner"] for d in each["deliveries"]] for each in decisions] == [
        ["first"],
        ["second"],
        ["first"],
    ], "lead-3 goes to first: the credited return gave its daily unit back"
    assert "credited 30.00 USD" in credited and returned in credited
    assert "returned before" in refused
