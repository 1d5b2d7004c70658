"""A delivery given up on becomes a re-offer record the decide stage can read, and retry topics
are told apart from other partners' topics."""

from __future__ import annotations

from deliveryrecords import DELIVERY

from processor.delivery.handback import Handback
from processor.delivery.topics import retry_levels, retry_topics
from processor.settings import Settings
from processor.wire import Codec


class Read:
    """The consumed record a re-offer comes from: only its place is read."""

    def topic(self) -> str:
        return "lead-router.retry.crm-east.2"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 41


def test_a_reoffer_carries_the_lead_as_delivered_and_why_it_came_back() -> None:
    codec = Codec()
    record = Handback(codec, "decide").record(Read(), DELIVERY, 3, "exhausted: HTTP 503")  # type: ignore[arg-type]

    assert (record.topic, record.key) == ("decide", b"web-0001")
    assert record.value is not None
    matched = codec.decode("decide", record.value, "LeadMatched")
    assert codec.read_lead_body(matched["lead"])["lead_id"] == "web-0001"
    assert matched["source"] == {"topic": Read().topic(), "partition": 3, "offset": 41}
    assert matched["reoffer"] == {
        "delivery_id": DELIVERY["delivery_id"],
        "partner": "crm-east",
        "attempts": 3,
        "reason": "exhausted: HTTP 503",
    }
    assert (matched["key"], matched["headers"], matched["notes"]) == (b"web-0001", [], [])
    assert (matched["rules_version"], matched["matches"], matched["returned"]) == (None, None, None)


def test_only_the_partners_own_numbered_retry_topics_are_its_levels() -> None:
    settings = Settings()
    topics = [
        "lead-router.retry.p.1",
        "lead-router.retry.p.10",
        "lead-router.retry.p.11",  # beyond the longest schedule
        "lead-router.retry.p.0",
        "lead-router.retry.p.01",
        "lead-router.retry.p.x",
        "lead-router.retry.p.1.2",  # partner p.1's second level
        "lead-router.retry.pq.1",
        "deliveries.p",
    ]
    assert retry_levels(settings, "p", topics) == {
        "lead-router.retry.p.1": 1,
        "lead-router.retry.p.10": 10,
    }
    assert retry_levels(settings, "p.1", topics) == {"lead-router.retry.p.1.2": 2}


def test_retry_topics_are_partitioned_like_the_delivery_topic_and_kept_two_weeks() -> None:
    specs = retry_topics(Settings(), "p", 2, partitions=4)
    assert [(s.name, s.partitions) for s in specs] == [
        ("lead-router.retry.p.1", 4),
        ("lead-router.retry.p.2", 4),
    ]
    assert {s.config["retention.ms"] for s in specs} == {str(14 * 86_400_000)}
