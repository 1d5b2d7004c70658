"""Retries through retry topics on a real broker: a failing delivery waits on the partner's retry
topics without holding up the others, is given up on or handed back to be re-offered as the
partner's policy says, and survives a worker killed while it waits or while it is handed back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from crashkit import SESSION_TIMEOUT_MS, processes, sigkill
from deliverykit import (
    Endpoint,
    delivery,
    in_force,
    partner_rules,
    publish_deliveries,
    wait_committed,
    working,
)
from prometheus_client import REGISTRY
from streamkit import reading, settings_env

from processor.delivery.topics import retry_topics, worker_topics
from processor.kafka.admin import TopicAdmin
from processor.kafka.records import Headers
from processor.settings import Settings
from processor.wire import Codec

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
SCHEDULE = {"retries": ["1s", "1s", "1s"]}


@pytest.fixture
def settings(stream_settings: Settings, unique: str, tmp_path: Path) -> Settings:
    """One request per attempt, and a session short enough to restart a killed worker quickly."""
    return stream_settings.with_changes(
        receipts_topic=f"receipts-{unique}",
        delivery_dlq_topic=f"deliveries-dlq-{unique}",
        retry_topic_prefix=f"retry-{unique}.",
        deliveries_dir=tmp_path,
        delivery_attempts=1,
        delivery_backoff_ms=1,
        delivery_timeout_ms=5000,
        session_timeout_ms=SESSION_TIMEOUT_MS,
    )


def attempt_counts() -> Counter[str]:
    """Partner ``p``'s attempts by result, and its deliveries handed back, as the metrics count
    them."""
    counts: Counter[str] = Counter()
    for result in ("delivered", "retrying", "failed", "rejected"):
        labels = {"partner": "p", "result": result}
        counts[result] = int(
            REGISTRY.get_sample_value("lead_router_delivery_attempts_total", labels) or 0
        )
    labels = {"partner": "p", "status": "reoffered"}
    reoffered = REGISTRY.get_sample_value("lead_router_worker_deliveries_total", labels)
    counts["reoffers"] = int(reoffered or 0)
    return counts


def all_receipts(settings: Settings, count: int) -> list[dict[str, Any]]:
    """Every committed receipt, in order, once there are at least ``count``."""
    with reading(settings, settings.topics.receipts_topic, "DeliveryReceipt") as reader:
        return reader.wait_for(count)


def statuses(receipts: list[dict[str, Any]], lead_id: str) -> list[tuple[str, int]]:
    return [(r["status"], r["attempts"]) for r in receipts if r["lead_id"] == lead_id]


def reoffers(settings: Settings) -> list[dict[str, Any]]:
    """The re-offer records committed on the decide topic."""
    with reading(settings, settings.topics.decide_topic, "LeadMatched") as reader:
        return [r for r in reader.drain() if r["reoffer"] is not None]


def assert_handed_back(settings: Settings, record: dict[str, Any], attempts: int, why: str) -> None:
    """Exactly one re-offer of ``record`` is on the decide topic, with the lead as delivered."""
    [matched] = reoffers(settings)
    assert matched["key"] == record["lead_id"].encode()
    assert Codec().read_lead_body(matched["lead"])["lead_id"] == record["lead_id"]
    topic = settings.topics.delivery_topic("p")
    assert (matched["source"]["topic"], matched["rules_version"], matched["matches"]) == (
        topic if attempts == 1 else settings.topics.retry_topic("p", attempts - 1),
        None,
        None,
    )
    offered = matched["reoffer"]
    assert (offered["delivery_id"], offered["partner"], offered["attempts"]) == (
        record["delivery_id"],
        "p",
        attempts,
    )
    assert offered["reason"].startswith(f"{why}: ")


def test_a_failing_delivery_waits_on_retry_topics_until_accepted_and_others_flow_past_it(
    settings: Settings, http: Endpoint
) -> None:
    partner_rules(settings, [http.url("/hook")], delivery=SCHEDULE)
    first, second = delivery("first", "p"), delivery("second", "p")
    http.answer("/hook", 503, 503, 503, then=200, key=first["delivery_id"])
    before = attempt_counts()
    with working(settings, "p"):
        publish_deliveries(settings, [first])
        http.wait_for("/hook", 1)  # the first attempt failed: the delivery waits for a retry
        publish_deliveries(settings, [second])
        found = all_receipts(settings, 5)
    counted = attempt_counts()
    counted.subtract(before)
    assert +counted == {"retrying": 3, "delivered": 2}

    assert statuses(found, "first") == [
        ("retrying", 1),
        ("retrying", 2),
        ("retrying", 3),
        ("delivered", 4),
    ]
    assert statuses(found, "second") == [("delivered", 1)]
    delivered = [r["lead_id"] for r in found if r["status"] == "delivered"]
    assert delivered == ["second", "first"], "the delivery behind the failing one went first"
    retrying = [r for r in found if r["status"] == "retrying"]
    assert {r["detail"] for r in retrying} == {f"{http.url('/hook')}: HTTP 503"}
    assert all(r["next_attempt_at"] > r["at"] for r in retrying)
    assert [r["revenue"] for r in found if r["lead_id"] == "first"] == [None, None, None, 12.5]

    keys = [r.headers["Idempotency-Key"] for r in http.to("/hook")]
    assert Counter(keys) == {first["delivery_id"]: 4, second["delivery_id"]: 1}

    with reading(settings, settings.topics.retry_topic("p", 1), None) as level_one:
        [waiting] = level_one.drain()
    with reading(settings, settings.topics.delivery_topic("p"), None) as deliveries:
        original = deliveries.drain()[0]
    assert (waiting["key"], waiting["raw"]) == (original["key"], original["raw"])
    headers = waiting["headers"]
    assert headers["lead-router.attempts"] == b"1"
    assert headers["lead-router.error"] == f"{http.url('/hook')}: HTTP 503".encode()
    source = f"{settings.topics.delivery_topic('p')}/0/0"
    assert headers["lead-router.first-source"] == source.encode()
    assert int(headers["lead-router.due-at"]) == waiting["timestamp"][1] + 1000


@pytest.mark.parametrize("on_exhausted", ["give_up", "reoffer"])
def test_a_delivery_failing_through_every_retry_is_given_up_on_as_the_policy_says(
    settings: Settings, http: Endpoint, on_exhausted: str
) -> None:
    partner_rules(settings, [http.url("/down")], delivery=SCHEDULE | {"on_exhausted": on_exhausted})
    http.answer("/down", then=503)
    record = delivery("down", "p")
    publish_deliveries(settings, [record])
    before = attempt_counts()
    with working(settings, "p"):
        found = all_receipts(settings, 4)
    counted = attempt_counts()
    counted.subtract(before)
    reoffered = 1 if on_exhausted == "reoffer" else 0
    assert +counted == +Counter({"retrying": 3, "failed": 1, "reoffers": reoffered})

    last = "failed" if on_exhausted == "give_up" else "reoffered"
    assert statuses(found, "down") == [("retrying", 1), ("retrying", 2), ("retrying", 3), (last, 4)]
    assert len(http.to("/down")) == 4
    if on_exhausted == "give_up":
        assert reoffers(settings) == []
        assert found[-1]["reason"] is None
    else:
        assert_handed_back(settings, record, 4, "exhausted")
        assert found[-1]["reason"] == f"exhausted: {http.url('/down')}: HTTP 503"


def test_a_refused_delivery_is_handed_back_at_once_when_the_policy_says_reoffer(
    settings: Settings, http: Endpoint
) -> None:
    partner_rules(settings, [http.url("/refuse")], delivery=SCHEDULE | {"on_refused": "reoffer"})
    http.answer("/refuse", then=400)
    record = delivery("refused", "p")
    publish_deliveries(settings, [record])
    with working(settings, "p") as worker:
        wait_committed(settings, worker, 1)
    found = all_receipts(settings, 1)

    assert statuses(found, "refused") == [("reoffered", 1)]
    assert found[0]["reason"] == f"refused: {http.url('/refuse')}: HTTP 400"
    assert_handed_back(settings, record, 1, "refused")


def test_a_worker_takes_up_the_retry_topics_of_a_schedule_that_new_rules_lengthen(
    settings: Settings, http: Endpoint
) -> None:
    without = partner_rules(settings, [http.url("/hook")], delivery={"retries": []})
    http.answer("/hook", 503, then=200)
    with working(settings, "p") as worker:
        in_force(worker, without)
        in_force(worker, partner_rules(settings, [http.url("/hook")], delivery={"retries": ["1s"]}))
        publish_deliveries(settings, [delivery("one", "p")])
        found = all_receipts(settings, 2)

    assert statuses(found, "one") == [("retrying", 1), ("delivered", 2)]


def test_hostile_records_on_a_retry_topic_are_bounded_or_dead_lettered(
    settings: Settings, http: Endpoint
) -> None:
    partner_rules(settings, [http.url("/hook")], delivery={"retries": ["1s", "1s"]})
    record = delivery("forged", "p")
    level_one = settings.topics.retry_topic("p", 1)
    TopicAdmin(settings).ensure(retry_topics(settings, "p", 1, partitions=1))
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    codec = Codec()
    headers: Headers = [
        ("lead-router.due-at", b"99999999999999"),  # thousands of years from now
        ("lead-router.attempts", b"many"),
        ("lead-router.first-source", b"../../etc/passwd"),
    ]
    value = codec.encode(level_one, "LeadDelivery", record)
    producer.produce(level_one, key=b"forged", value=value, headers=headers)
    producer.produce(level_one, key=b"raw", value=b"not a delivery")
    assert producer.flush(30) == 0

    with working(settings, "p"):
        found = all_receipts(settings, 1)
        with reading(settings, settings.topics.delivery_dlq_topic, None) as dlq:
            [dead] = dlq.wait_for(1)

    # Due a second after it was written, as its level says; attempts made: the level's one.
    assert statuses(found, "forged") == [("delivered", 2)]
    assert dead["key"] == b"raw"
    assert dead["headers"]["lead-router.source.topic"] == level_one.encode()


@contextmanager
def deliver_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``lead-router deliver --partner p`` in a process of its own; killed at the block's end.

    Its topics are made first, so that a test can read them while the process starts."""
    TopicAdmin(settings).ensure(worker_topics(settings, "p"))
    with processes() as started, open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "processor", "deliver", "--partner", "p"],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        yield process


def wait_until(found: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not found():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_worker_killed_while_a_delivery_waits_loses_nothing_and_delivers_once(
    settings: Settings, http: Endpoint, tmp_path: Path
) -> None:
    partner_rules(settings, [http.url("/hook")], delivery={"retries": ["5s"]})
    http.answer("/hook", 503, then=200)
    record = delivery("one", "p")
    publish_deliveries(settings, [record])
    log = tmp_path / "deliver.log"
    with deliver_process(settings, log) as first:
        all_receipts(settings, 1)  # retrying: the delivery waits on the retry topic
        sigkill(first)
    with deliver_process(settings, log):
        found = all_receipts(settings, 2)

    assert statuses(found, "one") == [("retrying", 1), ("delivered", 2)], log.read_text()[-3000:]
    assert [r.headers["Idempotency-Key"] for r in http.to("/hook")] == [record["delivery_id"]] * 2


def test_a_worker_killed_while_handing_a_delivery_back_hands_it_back_once(
    settings: Settings, http: Endpoint, tmp_path: Path
) -> None:
    partner_rules(settings, [http.url("/refuse")], delivery={"on_refused": "reoffer"})
    http.answer("/refuse", then=400)
    record = delivery("refused", "p")
    publish_deliveries(settings, [record])
    log = tmp_path / "deliver.log"
    http.hold()  # the worker is killed with the refusal on its way
    with deliver_process(settings, log) as first:
        http.wait_arrived(1)
        sigkill(first)
    http.release()
    with deliver_process(settings, log) as second:
        all_receipts(settings, 1)
        sigkill(second)  # once the hand-back has committed
    # A worker in a new group reads the delivery topic from its start: the receipt stops it.
    fresh = settings.with_changes(group_id=f"{settings.kafka.group_id}-new")
    with working(fresh, "p") as worker:
        wait_committed(fresh, worker, 1)

    found = all_receipts(settings, 1)
    assert statuses(found, "refused") == [("reoffered", 1)], log.read_text()[-3000:]
    assert_handed_back(settings, record, 1, "refused")
    assert len(http.to("/refuse")) == 2  # the killed attempt's request, and the one recorded
