"""Returns written to the returns topic, as the match stage hands them to the decide stage.

Whoever may write the returns topic may write anything: a record that is not a ``DeliveryReturn``,
or one that cannot be a return, is dead-lettered with its reason and no decision (it names no
lead); a good one goes on as a ``LeadMatched`` whose ``returned`` says which delivery came back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from io import BytesIO
from typing import Any, cast

import pytest
from fakes import Record
from fastavro import parse_schema, schemaless_writer

from processor.delivery.returns import MAX_BY_CHARS, MAX_KEY_BYTES, MAX_REASON_CHARS
from processor.errors import InvalidInput
from processor.geo.enrich import Enricher
from processor.kafka.admin import TopicAdmin
from processor.kafka.records import ERROR_HEADER, MESSAGE_HEADER, OFFSET_HEADER
from processor.rules import compile_rules, load_rules
from processor.settings import Settings
from processor.stream.match import MatchStage
from processor.stream.result import Result
from processor.stream.topics import Topics
from processor.wire import Codec

RULES = """
partners:
  - {id: crm, format: json, destinations: ["https://crm.example"]}
profiles:
  - {id: main, sources: [web], assignments: [{id: a, partner: crm}]}
"""
DELIVERY = "3d91f692-dc21-5ed0-be1e-9d5c88e5a535"
AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
SCHEMAS = files("processor.wire") / "avsc"
SETTINGS = Settings(returns_topic="returns", decide_topic="decide", dlq_topic="dlq")


def stage() -> MatchStage:
    snapshot = compile_rules(load_rules(RULES), "1")
    return MatchStage(SETTINGS, Codec(), Enricher(), lambda: snapshot)


def returned(key: bytes | None = DELIVERY.encode(), **changes: Any) -> Record:
    record = {"delivery_id": DELIVERY, "reason": "wrong number", "at": AT, "by": "crm-east"}
    value = Codec().encode("returns", "DeliveryReturn", record | changes)
    return Record("returns", 2, 17, key, value, [("origin", b"crm")])


def forwarded(result: Result) -> dict[str, Any]:
    (record,) = result.records
    assert (record.topic, record.key) == ("decide", DELIVERY.encode())
    return Codec().decode(record.topic, record.value or b"", "LeadMatched")


def assert_dead_lettered(result: Result, message: Record, reason: str, says: str) -> None:
    (dead,) = result.records  # no RoutingDecision: a return names no lead
    assert (dead.topic, dead.key, dead.value) == ("dlq", message.key(), message.value())
    headers = dict(dead.headers or [])
    assert (headers[ERROR_HEADER], headers[OFFSET_HEADER]) == (reason.encode(), b"17")
    text = headers[MESSAGE_HEADER]
    assert isinstance(text, bytes) and says.encode() in text
    assert (result.outcome, result.dead_letter_reason) == (None, reason)


def test_a_return_goes_on_to_the_decide_stage_keyed_by_its_delivery_id() -> None:
    matched = forwarded(stage().process(returned()))

    source = {"topic": "returns", "partition": 2, "offset": 17}
    assert matched["returned"] == {
        "delivery_id": DELIVERY,
        "reason": "wrong number",
        "at": AT,
        "by": "crm-east",
        "source": source,
    }
    assert (matched["lead"], matched["source"], matched["key"]) == (b"", source, DELIVERY.encode())
    assert (matched["geo"], matched["notes"], matched["locations"], matched["headers"]) == (
        None,
        [],
        [],
        [],
    )
    assert (matched["rules_version"], matched["matches"], matched["reoffer"]) == (None, None, None)


def test_a_delivery_id_in_capitals_goes_on_in_lead_routers_own_form() -> None:
    matched = forwarded(stage().process(returned(delivery_id=DELIVERY.upper())))

    assert matched["returned"]["delivery_id"] == DELIVERY


def test_long_texts_are_cut_not_refused() -> None:
    matched = forwarded(stage().process(returned(reason="r" * 5000, by="  " + "b" * 900)))

    assert matched["returned"]["reason"] == "r" * MAX_REASON_CHARS
    assert matched["returned"]["by"] == "b" * MAX_BY_CHARS


def test_a_blank_by_is_no_by() -> None:
    assert forwarded(stage().process(returned(by="   ")))["returned"]["by"] is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"delivery_id": "lead-000123"}, "delivery_id: not a UUID"),
        ({"delivery_id": DELIVERY + "0"}, "delivery_id: not a UUID"),
        ({"reason": " \t\n"}, "reason: empty"),
        ({"at": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)}, "at: before 2000-01-01"),
        ({"at": datetime.now(UTC) + timedelta(days=3)}, "at: more than a day in the future"),
    ],
    ids=["lead-id", "too-long-id", "blank-reason", "epoch", "future"],
)
def test_a_record_that_cannot_be_a_return_is_dead_lettered(
    changes: dict[str, Any], says: str
) -> None:
    message = returned(**changes)

    assert_dead_lettered(stage().process(message), message, "invalid-return", says)


def test_a_key_too_large_to_hand_on_is_dead_lettered() -> None:
    message = returned(key=b"k" * (MAX_KEY_BYTES + 1))

    assert_dead_lettered(stage().process(message), message, "invalid-return", "key: longer")


A_LEAD = {"lead_id": "L-1", "submitted_at": AT, "site_id": "web"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty"),
        (b"not avro at all", "unknown-framing"),
        (Codec().encode("returns", "LeadSubmitted", A_LEAD), "schema-mismatch"),
    ],
    ids=["empty", "garbage", "a-lead"],
)
def test_a_record_that_is_not_a_delivery_return_is_dead_lettered(value: bytes, reason: str) -> None:
    message = Record("returns", 2, 17, b"key", value)

    assert_dead_lettered(stage().process(message), message, reason, "")


def test_a_lead_on_the_input_topic_is_still_matched() -> None:
    lead = Codec().encode("leads.submitted", "LeadSubmitted", A_LEAD)
    result = stage().process(Record("leads.submitted", 0, 3, b"L-1", lead))

    (record,) = result.records
    assert (record.topic, record.key) == ("decide", b"L-1")
    matched = Codec().decode("decide", record.value or b"", "LeadMatched")
    assert (matched["returned"], matched["matches"]) == (None, {"category": [], "all": [0]})


@pytest.mark.parametrize("setting", ["input_topic", "decide_topic", "dlq_topic"])
def test_a_returns_topic_that_is_another_of_the_processors_topics_is_refused(
    setting: str,
) -> None:
    shared = SETTINGS.with_changes(returns_topic=getattr(SETTINGS.topics, setting))
    nothing_created = cast(TopicAdmin, object())  # refused before any topic is looked at

    with pytest.raises(InvalidInput, match=f"RETURNS_TOPIC and {setting.upper()} both name"):
        Topics(shared, nothing_created).ensure_base()


def test_an_at_beyond_the_calendar_is_dead_lettered() -> None:
    """A long no datetime can hold: written by a writer that declared ``at`` a plain long."""
    schema = json.loads(SCHEMAS.joinpath("DeliveryReturn.avsc").read_text())
    schema["fields"][2]["type"] = "long"
    body = BytesIO()
    record = {"delivery_id": DELIVERY, "reason": "wrong number", "at": 2**62, "by": None}
    schemaless_writer(body, parse_schema(schema), record)
    value = Codec().single_object("DeliveryReturn", body.getvalue())
    message = Record("returns", 2, 17, DELIVERY.encode(), value)

    assert_dead_lettered(stage().process(message), message, "invalid-avro", "OverflowError")
