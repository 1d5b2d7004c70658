"""Valid leads the pipeline still cannot route: they are rejected, never lost, and audited.

The contract's ``rejected`` outcome puts the input in the dead-letter topic, untouched, and a
``rejected`` decision in the audit topic whenever the lead id could be read. A lead whose records
would be too large for the broker, and a lead that trips an error while routing, both have a
readable lead id.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME

from processor import pipeline as pipeline_module
from processor.geo.enrich import Enricher
from processor.kafka.records import ERROR_HEADER, EXCEPTION_HEADER, OFFSET_HEADER
from processor.pipeline import Pipeline, Result
from processor.routing import Router
from processor.rules import Ledger, MemoryStore, compile_rules, load_rules
from processor.settings import Settings
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

    def headers(self) -> list[tuple[str, bytes]] | None:
        return list(INPUT_HEADERS)

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, INPUT_TIMESTAMP)


def lead(**changes: Any) -> bytes:
    document = {"lead_id": "lead-1", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "web"}
    return Codec().encode("leads", "LeadSubmitted", lead_from_json(document | changes))


def process(value: bytes, **settings: Any) -> Result:
    pipeline = Pipeline(Settings(**settings), Codec(), Enricher())
    snapshot = compile_rules(load_rules(RULES), "1")
    return pipeline.process(Message(value), snapshot, Ledger(MemoryStore()))


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


def test_a_lead_whose_delivery_would_be_too_large_is_rejected_with_its_id() -> None:
    value = lead(comments="x" * 30_000)
    assert len(value) < 40_000  # the input fits; the delivery (lead and payload) does not
    assert_rejected(process(value, max_record_bytes=40_000), value, "too-large")


def test_a_lead_rejected_as_too_large_sold_nothing_and_can_be_sent_again() -> None:
    """Its lead id is not remembered and it counts against no cap: fixed, it is routed."""
    pipeline = Pipeline(Settings(max_record_bytes=40_000), Codec(), Enricher())
    snapshot = compile_rules(load_rules(RULES), "1")
    store = MemoryStore()
    ledger = Ledger(store)
    large = pipeline.process(Message(lead(comments="x" * 30_000)), snapshot, ledger)
    assert large.outcome == "rejected"
    assert not any(key.startswith(b"lead") for key in store.data)
    assert pipeline.process(Message(lead()), snapshot, ledger).outcome == "routed"


def test_the_same_lead_within_the_limit_is_routed() -> None:
    result = process(lead(comments="x" * 30_000), max_record_bytes=100_000)
    assert result.outcome == "routed"


def test_a_lead_that_trips_an_error_while_routing_is_rejected_with_its_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Router, "route", broken)
    value = lead()
    result = process(value)
    assert_rejected(result, value, "processing-error")
    assert dict(result.records[0].headers or [])[EXCEPTION_HEADER] == b"builtins.RuntimeError"


def test_a_rejection_not_raised_as_an_exception_names_no_exception_class() -> None:
    result = process(lead(comments="x" * 30_000), max_record_bytes=40_000)
    assert EXCEPTION_HEADER not in dict(result.records[0].headers or [])


def spin_forever(*args: Any, **kwargs: Any) -> Any:
    """A routing step that never ends by itself (busy Python code)."""
    while True:
        pass


def test_a_lead_whose_routing_runs_over_its_budget_is_rejected_as_too_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Enricher, "whereabouts", spin_forever)
    value = lead()
    result = process(value, routing_budget_ms=50)
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = Pipeline(Settings(routing_budget_ms=50), Codec(), Enricher())
    snapshot = compile_rules(load_rules(ROUND_ROBIN), "1")
    store = MemoryStore()
    ledger = Ledger(store)
    assert pipeline.process(Message(lead()), snapshot, ledger).deliveries[0].partner == "crm"
    before = dict(store.data)
    with monkeypatch.context() as patched:
        patched.setattr(pipeline_module, "render", spin_forever)  # after the strategy chose
        slow = pipeline.process(Message(lead(lead_id="lead-2")), snapshot, ledger)
    assert slow.dead_letter_reason == "too-slow"
    assert store.data == before
    after = pipeline.process(Message(lead(lead_id="lead-3")), snapshot, ledger)
    assert after.deliveries[0].partner == "bdc"  # its turn, as if the stopped lead never came
