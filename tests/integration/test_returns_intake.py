"""Returns on a real broker: what partners write to the returns topic reaches the decide stage once,
and ``lead-router return`` writes a return and waits for its answer.

The decide stage's answer (a credit or a refusal, in a receipt) is its own suite's; here a receipt
written by hand stands in for it where the command waits for one.
"""

from __future__ import annotations

import getpass
import json
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY
from samples import DEALER_RULES as RULES
from streamkit import apply_rules, reading, running
from test_fencing import wait_until

from processor.cli import main
from processor.cli.returns import NO_ANSWER_EXIT_CODE
from processor.kafka.records import ERROR_HEADER, MESSAGE_HEADER, SOURCE_HEADERS
from processor.settings import Settings
from processor.wire import Codec

pytestmark = pytest.mark.integration

DELIVERY = "3d91f692-dc21-5ed0-be1e-9d5c88e5a535"
OTHER = "89e9cc68-f2b4-5c9d-a3c3-74b24d8d5676"
AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def settings(stream_settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings, with a receipts topic of its own, also as the LEAD_ROUTER_*
    variables the command reads."""
    settings = stream_settings.with_changes(receipts_topic=f"receipts-{unique}")
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    return settings


def write(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    """A record written by hand, as a partner's system (or a forger) would."""
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def a_return(settings: Settings, delivery_id: str, reason: str = "wrong number") -> bytes:
    record = {"delivery_id": delivery_id, "reason": reason, "at": AT, "by": "crm-east"}
    return Codec().encode(settings.topics.returns_topic, "DeliveryReturn", record)


def test_returns_reach_the_decide_stage_once_and_bad_ones_the_dead_letter_topic(
    settings: Settings,
) -> None:
    topic = settings.topics.returns_topic
    apply_rules(settings, RULES)
    with running(settings):
        write(settings, topic, b"garbage", b"not a return at all")
        write(settings, topic, b"lead-1", a_return(settings, "lead-1"))
        write(settings, topic, DELIVERY.encode(), a_return(settings, DELIVERY))
        with (
            reading(settings, settings.topics.decide_topic, "LeadMatched") as decide,
            reading(settings, settings.topics.dlq_topic, None) as dlq,
        ):
            decide.wait_for(1)
            forwarded = decide.drain()
            dlq.wait_for(2)
            dead = [
                each
                for each in dlq.drain()
                # The decide stage of a processor without returns refuses what it cannot read;
                # only the match stage's dead letters of the returns topic are this test's.
                if each["headers"][SOURCE_HEADERS[0]] == topic.encode()
            ]
        # The match stage's lag is measured per topic it reads: the returns topic's, read whole.
        lag = {"topic": topic, "partition": "0"}
        wait_until(
            "the returns topic's lag measured",
            lambda: REGISTRY.get_sample_value("lead_router_consumer_lag", lag) == 0,
        )

    (matched,) = forwarded
    assert matched["key"] == DELIVERY.encode()  # the record key: the delivery id
    source = {"topic": topic, "partition": 0, "offset": 2}
    assert matched["returned"] == {
        "delivery_id": DELIVERY,
        "reason": "wrong number",
        "at": AT,
        "by": "crm-east",
        "source": source,
    }
    assert (matched["lead"], matched["source"]) == (b"", source)
    assert sorted((each["key"], each["headers"][ERROR_HEADER]) for each in dead) == [
        (b"garbage", b"unknown-framing"),
        (b"lead-1", b"invalid-return"),
    ]
    (refused,) = [each for each in dead if each["key"] == b"lead-1"]
    assert refused["headers"][MESSAGE_HEADER].startswith(b"delivery_id: not a UUID")
    assert refused["raw"] == a_return(settings, "lead-1")  # the record whole, as it was


def test_the_command_refuses_a_bad_delivery_id_as_bad_usage(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["return", "lead-000123", "--reason", "wrong number"])

    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lead-router return")
    assert "'lead-000123' is not a delivery id" in err


def test_the_command_writes_one_return_and_need_not_wait(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["return", DELIVERY.upper(), "--reason", " wrong number ", "--wait", "0"]) == 0

    topic = settings.topics.returns_topic
    assert f"return of delivery {DELIVERY} written to {topic}[0]@0; not waiting" in (
        capsys.readouterr().out
    )
    with reading(settings, topic, "DeliveryReturn") as returns:
        (written,) = returns.drain()
    assert written["key"] == DELIVERY.encode()
    assert (written["delivery_id"], written["reason"]) == (DELIVERY, "wrong number")
    assert written["by"] == f"{getpass.getuser()}@{socket.gethostname()}"
    assert abs((datetime.now(UTC) - written["at"]).total_seconds()) < 60


def receipt(delivery_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "lead_id": "L-1",
        "partner": "crm-east",
        "status": status,
        "at": datetime.now(UTC),
        "price": 40.0,
        "currency": "USD",
    } | fields


def write_receipt(settings: Settings, answer: dict[str, Any]) -> None:
    topic = settings.topics.receipts_topic
    value = Codec().encode(topic, "DeliveryReceipt", answer)
    write(settings, topic, answer["delivery_id"].encode(), value)


def test_the_command_waits_for_the_answer_written_after_its_return(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # An earlier return's answer for the same delivery: not this return's.
    assert main(["return", DELIVERY, "--reason", "first", "--wait", "0"]) == 0
    write_receipt(settings, receipt(DELIVERY, "return_refused", reason="an earlier refusal"))
    capsys.readouterr()
    codes: list[int] = []
    waiting = threading.Thread(
        target=lambda: codes.append(
            main(["return", DELIVERY, "--reason", "wrong number", "--format", "json"])
        )
    )
    waiting.start()
    with reading(settings, settings.topics.returns_topic, "DeliveryReturn") as returns:
        returns.wait_for(2)  # the second return is written: its answer may come
    write_receipt(settings, receipt(OTHER, "returned", revenue=-40.0))
    write_receipt(settings, receipt(DELIVERY, "delivered", revenue=40.0))
    write_receipt(settings, receipt(DELIVERY, "returned", revenue=-40.0, reason="wrong number"))
    waiting.join(60)

    assert codes == [0]
    said = json.loads(capsys.readouterr().out)
    assert said["result"] == "credited"
    assert (said["receipt"]["delivery_id"], said["receipt"]["revenue"]) == (DELIVERY, -40.0)
    assert said["return"]["reason"] == "wrong number"
    assert said["written"] == {"topic": settings.topics.returns_topic, "partition": 0, "offset": 1}


def test_the_command_says_when_no_answer_came_in_time(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["return", DELIVERY, "--reason", "wrong number", "--wait", "1"]) == (
        NO_ANSWER_EXIT_CODE
    )

    topic = settings.topics.returns_topic
    assert capsys.readouterr().out == (
        f"no answer within 1 s: the return of delivery {DELIVERY} stays on {topic}[0]@0 and is "
        "answered when the processor runs\n"
    )
