"""Re-offers and returns through the decide stage: the records it writes for each, and that a
record settling a delivery twice changes nothing the second time."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from stagekit import SUBMITTED, Forwarded, Stages, lead

from processor.kafka.records import ERROR_HEADER, OutputRecord
from processor.rules.deliveries import delivery_id
from processor.rules.explain import explain_record
from processor.settings import Settings
from processor.stream.result import Result
from processor.stream.settle import Settlement
from processor.wire import Codec

RULES = """
partners:
  - {id: a, format: json, destinations: ["https://a.example"], caps: [{per: day, leads: 1}]}
  - {id: b, format: json, destinations: ["https://b.example"]}
profiles:
  - id: main
    sources: [web]
    currency: USD
    assignments: [{id: x, partner: a, price: 30}, {id: y, partner: b, price: 20}]
"""

TOPICS = Settings().topics
DECIDE = TOPICS.decide_topic
A = delivery_id("lead-1", "a")


def send(both: Stages, record: dict[str, Any]) -> Result:
    value = Codec().encode(DECIDE, "LeadMatched", record)
    return both.decide.process(Forwarded(OutputRecord(DECIDE, b"written", value)))


def reoffer(both: Stages, partner: str = "a", delivery: str = A) -> dict[str, Any]:
    record = both.matched(lead())
    given_up = {"delivery_id": delivery, "partner": partner, "attempts": 6, "reason": "HTTP 503"}
    return record | {"reoffer": given_up}


def returned(delivery: str = A, after: timedelta = timedelta(days=1)) -> dict[str, Any]:
    return {
        "lead": b"",
        "source": {"topic": TOPICS.returns_topic, "partition": 0, "offset": 3},
        "returned": {
            "delivery_id": delivery,
            "reason": "wrong number " * 100,
            "at": SUBMITTED + after,
            "by": "ops",
            "source": {"topic": TOPICS.returns_topic, "partition": 0, "offset": 3},
        },
    }


def decoded(result: Result, topic: str, schema: Any) -> list[dict[str, Any]]:
    codec = Codec()
    return [
        codec.decode(r.topic, r.value or b"", schema) for r in result.records if r.topic == topic
    ]


def audit(result: Result) -> dict[str, Any]:
    (decision,) = decoded(result, TOPICS.audit_topic, "RoutingDecision")
    return decision


def receipt(result: Result) -> dict[str, Any]:
    (found,) = decoded(result, TOPICS.receipts_topic, "DeliveryReceipt")
    return found


def test_a_reoffer_decides_the_lead_again_without_its_partner_once(stages: Any) -> None:
    both = stages(RULES)
    first = both.process(lead())
    assert [d.partner for d in first.deliveries] == ["a"]
    assert (audit(first)["attempt"], audit(first)["reoffer_of"]) == (1, None)
    again = send(both, reoffer(both))
    assert [d.partner for d in again.deliveries] == ["b"]
    decision = audit(again)
    assert (decision["attempt"], decision["reoffer_of"]) == (2, A)
    assert json.loads(decision["trace"])[0] == {
        "step": "reoffer",
        "reoffer_of": A,
        "attempt": 2,
        "why": f"partner 'a' gave up on delivery {A} after 6 attempts: HTTP 503",
        "offered": ["a"],
    }
    assert again.settlements == (Settlement("a", "reoffered"),)
    shown = explain_record(decision).splitlines()
    assert shown[:2] == [
        "lead lead-1: routed to b at 20.00 USD (assignment y)",
        f"  attempt 2, re-offer of delivery {A}",
    ]
    assert shown[3] == (
        f"  - re-offer: partner 'a' gave up on delivery {A} after 6 attempts: HTTP 503; "
        "left out, offered before: a"
    )
    (delivery,) = decoded(again, TOPICS.delivery_topic("b"), "LeadDelivery")
    assert delivery["delivery_id"] == delivery_id("lead-1", "b")
    twice = send(both, reoffer(both))
    (dead,) = twice.records
    assert dict(dead.headers or [])[ERROR_HEADER] == b"reoffer-settled"
    assert (twice.outcome, twice.settlements) == ("rejected", ())


def test_a_reoffer_of_a_delivery_never_made_or_of_another_partner_is_dead_lettered(
    stages: Any,
) -> None:
    both = stages(RULES)
    both.process(lead())
    for record, reason in (
        (reoffer(both, delivery=delivery_id("lead-9", "a")), b"reoffer-unknown"),
        (reoffer(both, partner="b"), b"reoffer-mismatch"),
    ):
        result = send(both, record)
        (dead,) = result.records
        assert dict(dead.headers or [])[ERROR_HEADER] == reason
    # Nothing changed: the real re-offer still goes through.
    assert [d.partner for d in send(both, reoffer(both)).deliveries] == ["b"]


def test_a_return_is_credited_once_and_frees_the_cap_unit(stages: Any) -> None:
    both = stages(RULES)
    both.process(lead())
    assert [d.partner for d in both.process(lead(lead_id="lead-2")).deliveries] == ["b"]
    credited = send(both, returned())
    found = receipt(credited)
    assert (found["status"], found["revenue"], found["currency"]) == ("returned", -30.0, "USD")
    assert len(found["reason"]) == 500 and found["detail"] == "returned by ops"
    assert credited.settlements == (Settlement("a", "credited", "USD", 30.0),)
    assert not decoded(credited, TOPICS.audit_topic, "RoutingDecision"), "no re-offer"
    assert [d.partner for d in both.process(lead(lead_id="lead-3")).deliveries] == ["a"]
    again = receipt(send(both, returned()))
    assert (again["status"], again["reason"]) == ("return_refused", "returned before")


def test_a_return_too_late_or_of_no_delivery_is_refused(stages: Any) -> None:
    both = stages(RULES)
    both.process(lead())
    late = send(both, returned(after=timedelta(days=8)))
    assert (receipt(late)["status"], receipt(late)["reason"]) == (
        "return_refused",
        "after the 7d window",
    )
    assert late.settlements == (Settlement("a", "refused"),)
    unknown = receipt(send(both, returned(delivery="nobody")))
    assert (unknown["reason"], unknown["lead_id"], unknown["partner"]) == (
        "no such delivery",
        "",
        "",
    )


def test_a_credited_return_offers_the_lead_again_when_the_partner_says_so(stages: Any) -> None:
    rules = RULES.replace(
        "caps: [{per: day, leads: 1}]}", "delivery: {returns: {reoffer: true, window: 2d}}}"
    )
    both = stages(rules)
    both.process(lead())
    result = send(both, returned())
    assert receipt(result)["status"] == "returned"
    decision = audit(result)
    assert (decision["attempt"], decision["reoffer_of"], decision["lead_id"]) == (2, A, "lead-1")
    assert [d.partner for d in result.deliveries] == ["b"]
    assert decision["source"]["topic"] == TOPICS.returns_topic


def test_a_record_with_a_reoffer_and_a_return_is_dead_lettered(stages: Any) -> None:
    both = stages(RULES)
    both.process(lead())
    result = send(both, reoffer(both) | {"returned": returned()["returned"]})
    assert result.dead_letter_reason == "invalid-matched"
    assert [d.partner for d in send(both, reoffer(both)).deliveries] == ["b"]
