"""Valid leads the stages still cannot route: they are rejected, never lost, and audited.

The contract's ``rejected`` outcome puts the input in the dead-letter topic, untouched, and a
``rejected`` decision in the audit topic whenever the lead id could be read. A lead whose records
would be too large for the broker, and a lead that trips an error while routing, both have a
readable lead id. Each lead goes through the match stage, then through the decide stage as the
record the match stage forwarded: a rejection in either stage reads the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from stagekit import INPUT_HEADERS, INPUT_TIMESTAMP, SUBMITTED, Forwarded, lead

from processor.geo.enrich import Enricher
from processor.kafka.records import (
    ERROR_HEADER,
    EXCEPTION_HEADER,
    OFFSET_HEADER,
    OutputRecord,
)
from processor.stream import decide as decide_module
from processor.stream.result import Result
from processor.wire import Codec


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
    # The budget stops the spinning step; the leads around it must be decided within it however
    # busy the machine is, so it is the default's, not the tightest that would do.
    both = stages(ROUND_ROBIN, routing_budget_ms=1000)
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
