"""Valid leads the stages still cannot route: they are rejected, never lost, and audited.

The contract's ``rejected`` outcome puts the input in the dead-letter topic, untouched, and a
``rejected`` decision in the audit topic whenever the lead id could be read. A lead whose records
would be too large for the broker, and a lead that trips an error while routing, both have a
readable lead id. Each lead goes through the match stage, then through the decide stage as the
record the match stage forwarded: a rejection in either stage reads the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME
from statekit import FakeChangelog

from processor.geo.enrich import Enricher
from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    OFFSET_HEADER,
    Headers,
    OutputRecord,
)
from processor.rules import Snapshot, compile_rules, load_rules
from processor.rules.ledger import LEAD_MEMORY_S
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream import decide as decide_module
from processor.stream.decide import DecideStage
from processor.stream.match import MatchStage
from processor.stream.result import Result
from processor.wire import Codec, lead_from_json

RULES = """
partners:
  - {id: crm, format: json, destinations: ["https://crm.example"]}
profiles:
  - {id: main, sources: [web], assignments: [{id: a, partner: crm}]}
"""


INPUT_HEADERS = (("traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01"), ("origin", b"web"))
INPUT_TIMESTAMP = 1_763_632_800_000


class Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def topic(self) -> str:
        return "leads"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 42

    def key(self) -> bytes:
        return b"the-key"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> Headers:
        return list(INPUT_HEADERS)

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, INPUT_TIMESTAMP)


SUBMITTED = datetime(2026, 11, 20, 10, tzinfo=UTC)


def lead(**changes: Any) -> bytes:
    document = {"lead_id": "lead-1", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "web"}
    return Codec().encode("leads", "LeadSubmitted", lead_from_json(document | changes))


class Forwarded:
    """The record the match stage forwarded, as the decide stage consumes it."""

    def __init__(self, record: OutputRecord) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record.topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes | None:
        return self._record.value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, self._record.timestamp)


class Stages:
    """Both stages, with the decide stage's state in a folder of its own."""

    def __init__(self, folder: Path, rules: str, **settings: Any) -> None:
        own = Settings(state_dir=folder, transactional_id="stages", **settings)
        snapshot: Snapshot = compile_rules(load_rules(rules), "1")
        codec = Codec()
        self.state = DecideState(StateStores(own, FakeChangelog()), LEAD_MEMORY_S)
        self.state.assign({0: -1})
        self.match = MatchStage(own, codec, Enricher(), lambda: snapshot)
        self.decide = DecideStage(own, codec, lambda: snapshot, self.state)

    def process(self, value: bytes) -> Result:
        matched = self.match.process(Message(value))
        if matched.outcome is not None:
            return matched
        (forwarded,) = matched.records
        return self.decide.process(Forwarded(forwarded))


@pytest.fixture
def stages(tmp_path: Path) -> Iterator[Any]:
    made: list[Stages] = []

    def make(rules: str = RULES, **settings: Any) -> Stages:
        made.append(Stages(tmp_path / str(len(made)), rules, **settings))
        return made[-1]

    yield make
    for each in made:
        each.state.close()


def assert_rejected(result: Result, value: bytes, reason: str) -> None:
    assert result.outcome == "rejected"
    dead, audit = result.records
    assert (dead.topic, dead.key, dead.value) == ("leads.submitted.dlq", b"the-key", value)
    assert (dead.headers or [])[: len(INPUT_HEADERS)] == list(INPUT_HEADERS)
    assert dead.timestamp == INPUT_TIMESTAMP
    headers = dict(dead.headers or [])
    assert (headers[ERROR_HEADER], headers[OFFSET_HEADER]) == (reason.encode(), b"42")
    decision = Codec().decode(audit.topic, audit.value or b"", "RoutingDecision")
    assert (decision["lead_id"], decision["outcome"]) == ("lead-1", "rejected")
    assert decision["error"].startswith(f"{reason}: ")


def test_a_lead_whose_delivery_would_be_too_large_is_rejected_with_its_id(stages: Any) -> None:
    value = lead(comments="x" * 30_000)
    assert len(value) < 40_000  # the input fits; the delivery (lead and payload) does not
    assert_rejected(stages(max_record_bytes=40_000).process(value), value, "too-large")


def test_a_lead_rejected_as_too_large_sold_nothing_and_can_be_sent_again(stages: Any) -> None:
    """Its lead id is not remembered and it counts against no cap: fixed, it is routed."""
    both = stages(max_record_bytes=40_000)
    assert both.process(lead(comments="x" * 30_000)).outcome == "rejected"
    assert both.state.of(0).decided("lead-1", SUBMITTED) is None
    assert both.process(lead()).outcome == "routed"


def test_the_same_lead_within_the_limit_is_routed(stages: Any) -> None:
    result = stages(max_record_bytes=100_000).process(lead(comments="x" * 30_000))
    assert result.outcome == "routed"


def test_a_lead_that_trips_an_error_while_deciding_is_rejected_with_its_id(
    stages: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(decide_module, "decide", broken)
    value = lead()
    result = stages().process(value)
    assert_rejected(result, value, "processing-error")
    assert dict(result.records[0].headers or [])[EXCEPTION_HEADER] == b"builtins.RuntimeError"


def test_a_rejection_not_raised_as_an_exception_names_no_exception_class(stages: Any) -> None:
    result = stages(max_record_bytes=40_000).process(lead(comments="x" * 30_000))
    assert EXCEPTION_HEADER not in dict(result.records[0].headers or [])


def spin_forever(*args: Any, **kwargs: Any) -> Any:
    """A routing step that never ends by itself (busy Python code)."""
    while True:
        pass


def test_a_lead_whose_enrichment_runs_over_its_budget_is_rejected_as_too_slow(
    stages: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Enricher, "whereabouts", spin_forever)
    value = lead()
    result = stages(routing_budget_ms=50).process(value)
    assert_rejected(result, value, "too-slow")
    assert result.processing_s < 30  # stopped, not waited for


ROUND_ROBIN = """
partners:
  - {id: crm, format: json, destinations: ["https://crm.example"]}
  - {id: bdc, format: json, destinations: ["https://bdc.example"]}
profiles:
  - id: main
    sources: [web]
    strategy: round_robin
    assignments: [{id: a, partner: crm}, {id: b, partner: bdc}]
"""


def test_a_lead_stopped_after_its_strategy_chose_leaves_rotation_as_it_was(
    stages: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = stages(ROUND_ROBIN, routing_budget_ms=50)
    assert both.process(lead()).deliveries[0].partner == "crm"
    ledger = both.state.of(0)
    before = ledger.round_robin("main")
    with monkeypatch.context() as patched:
        patched.setattr(decide_module, "render", spin_forever)  # after the strategy chose
        slow = both.process(lead(lead_id="lead-2"))
    assert slow.dead_letter_reason == "too-slow"
    assert ledger.round_robin("main") == before
    assert ledger.decided("lead-2", SUBMITTED) is None
    after = both.process(lead(lead_id="lead-3"))
    assert after.deliveries[0].partner == "bdc"  # its turn, as if the stopped lead never came


def test_a_record_on_the_decide_topic_that_is_no_lead_matched_is_dead_lettered_as_it_is(
    stages: Any,
) -> None:
    both = stages()
    written = OutputRecord("lead-router.decide", b"by-hand", b"\xc3\x01not a record")
    result = both.decide.process(Forwarded(written))
    assert (result.outcome, result.dead_letter_reason) == ("rejected", "unknown-fingerprint")
    (dead,) = result.records  # no lead id to audit
    assert (dead.topic, dead.key, dead.value) == (
        "leads.submitted.dlq",
        b"by-hand",
        b"\xc3\x01not a record",
    )
    assert both.process(lead()).outcome == "routed"  # the next lead goes through
