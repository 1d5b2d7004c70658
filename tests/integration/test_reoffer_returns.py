"""Re-offers and returns on the real broker, through real processor instances.

A delivery worker that gives up on a delivery writes a ``LeadMatched`` with ``reoffer`` to the
decide topic, and the match stage forwards each return as a ``LeadMatched`` with ``returned``:
these tests write both records there themselves, with the codec, as those would. A re-offer routes
the lead to the next partner exactly once, even when its record comes again to a processor that
restored its state; a credited return frees the partner's cap unit, and is credited once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from streamkit import apply_rules, publish, reading, running

from processor.cli import main
from processor.kafka.records import ERROR_HEADER
from processor.replay.run import replay
from processor.rules import load_rules
from processor.rules.deliveries import delivery_id
from processor.settings import Settings
from processor.wire import Codec, lead_from_json

pytestmark = pytest.mark.integration

RULES = """
partners:
  - {id: first, format: json, destinations: ["https://first.example.com"],
     caps: [{per: day, leads: 1}]}
  - {id: second, format: json, destinations: ["https://second.example.com"]}
profiles:
  - id: market
    sources: [market]
    currency: USD
    assignments:
      - {id: a, partner: first, price: 30}
      - {id: b, partner: second, price: 20}
"""

SUBMITTED = datetime(2026, 11, 20, 15, tzinfo=UTC)


@pytest.fixture
def settings(stream_settings: Settings, unique: str) -> Settings:
    return stream_settings.with_changes(
        receipts_topic=f"receipts-{unique}", returns_topic=f"returns-{unique}"
    )


def lead(lead_id: str) -> dict[str, Any]:
    return {"lead_id": lead_id, "submitted_at": SUBMITTED.isoformat(), "site_id": "market"}


def write(settings: Settings, record: dict[str, Any]) -> None:
    """A ``LeadMatched`` on the decide topic, committed, as a worker or the match stage would."""
    topic = settings.topics.decide_topic
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(topic, key=b"written", value=Codec().encode(topic, "LeadMatched", record))
    assert producer.flush(30) == 0


def reoffer(settings: Settings, lead_id: str, partner: str) -> dict[str, Any]:
    """What a worker that gave up on the lead's delivery to ``partner`` writes."""
    return {
        "lead": Codec().lead_body(lead_from_json(lead(lead_id))),
        "source": {"topic": settings.topics.input_topic, "partition": 0, "offset": 0},
        "key": lead_id.encode(),
        "reoffer": {
            "delivery_id": delivery_id(lead_id, partner),
            "partner": partner,
            "attempts": 6,
            "reason": "exhausted: HTTP 503",
        },
    }


def returned(settings: Settings, delivery: str, offset: int) -> dict[str, Any]:
    """What the match stage forwards for a return of ``delivery`` on the returns topic."""
    source = {"topic": settings.topics.returns_topic, "partition": 0, "offset": offset}
    return {
        "lead": b"",
        "source": source,
        "returned": {
            "delivery_id": delivery,
            "reason": "wrong number",
            "at": SUBMITTED + timedelta(days=1),
            "by": "partner-crm",
            "source": source,
        },
    }


def partners(decision: dict[str, Any]) -> list[str]:
    return [d["partner"] for d in decision["deliveries"]]


def test_a_reoffer_routes_the_lead_to_the_next_partner_exactly_once(
    settings: Settings, capsys: Any
) -> None:
    since = datetime.now(UTC)
    apply_rules(settings, RULES)
    given_up = reoffer(settings, "lead-1", "first")
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(settings, settings.topics.dlq_topic, None) as dead,
    ):
        with running(settings):
            publish(settings, [lead("lead-1")])
            (first,) = audit.wait_for(1)
            write(settings, given_up)
            _, again = audit.wait_for(2)
        # Another processor, its state restored from the changelog, gets the same record again.
        with running(settings):
            write(settings, given_up)
            (letter,) = dead.wait_for(1)
            publish(settings, [lead("lead-2")])
            audit.wait_for(3)
        decisions = audit.drain()
    with reading(settings, settings.topics.delivery_topic("second"), "LeadDelivery") as second:
        (delivered,) = second.drain()

    assert dict(letter["header_list"])[ERROR_HEADER] == b"reoffer-settled"
    assert [d["lead_id"] for d in decisions] == ["lead-1", "lead-1", "lead-2"]
    assert (partners(first), first["attempt"], first["reoffer_of"]) == (["first"], 1, None)
    a_delivery = delivery_id("lead-1", "first")
    assert (partners(again), again["attempt"], again["reoffer_of"]) == (["second"], 2, a_delivery)
    assert delivered["delivery_id"] == delivery_id("lead-1", "second")
    # The re-offer gave first's unit back: the next lead of the day is first's.
    assert partners(decisions[2]) == ["first"]

    flags = ["--bootstrap-servers", settings.kafka.bootstrap_servers]
    assert (
        main(["audit", "show", "lead-1", *flags, "--audit-topic", settings.topics.audit_topic]) == 0
    )
    shown = capsys.readouterr().out
    assert shown.startswith("lead lead-1 was decided 2 times (re-offered)")
    assert f"  attempt 2, re-offer of delivery {a_delivery}" in shown

    report = replay(settings, load_rules(RULES), since)
    assert (report.leads, report.reoffers, report.exact) == (2, 1, False)


def test_a_credited_return_frees_the_cap_unit_and_is_credited_once(settings: Settings) -> None:
    apply_rules(settings, RULES)
    returned_a = delivery_id("lead-1", "first")
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(settings, settings.topics.receipts_topic, "DeliveryReceipt") as receipts,
    ):
        with running(settings):
            publish(settings, [lead("lead-1"), lead("lead-2")])
            audit.wait_for(2)
            write(settings, returned(settings, returned_a, 0))
            receipts.wait_for(1)
            publish(settings, [lead("lead-3")])
            audit.wait_for(3)
        with running(settings):
            write(settings, returned(settings, returned_a, 1))
            receipts.wait_for(2)
        decisions = audit.drain()
        credited, refused = receipts.drain()

    assert [partners(d) for d in decisions] == [["first"], ["second"], ["first"]]
    assert (credited["status"], credited["revenue"], credited["currency"]) == (
        "returned",
        -30.0,
        "USD",
    )
    assert (credited["delivery_id"], credited["lead_id"], credited["partner"]) == (
        returned_a,
        "lead-1",
        "first",
    )
    assert (credited["key"], credited["reason"]) == (returned_a.encode(), "wrong number")
    assert (refused["status"], refused["reason"]) == ("return_refused", "returned before")
    # Under a key of its own: compaction keeps the credit as the delivery's latest receipt.
    assert refused["key"] == returned_a.encode() + b"/return-refused"
    assert refused["revenue"] is None
