"""``lead-router redrive`` on a real broker: dead-lettered and unroutable leads, once fixed, are
published to the input topic again and routed exactly once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer
from samples import DEALER_RULES as RULES
from streamkit import apply_rules, publish, reading, running
from test_schema_versions import FIXTURES, written_with

from processor.cli import main
from processor.kafka.records import ERROR_HEADER, REDRIVEN_HEADER
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec

pytestmark = pytest.mark.integration

FIXED_RULES = (
    RULES
    + """
      - {id: anywhere, partner: sales, category: ALL}
"""
)
"""RULES plus an assignment that takes every dealer lead: the fix for an unroutable one."""


def lead(lead_id: str, category: str | None, state: str | None) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "submitted_at": "2026-11-20T10:00:00Z",
        "site_id": "dealer-web",
        "interest_category": category,
        "address": {"state": state},
    }


@pytest.fixture
def settings(stream_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings, also as the LEAD_ROUTER_* variables the command reads."""
    for name, value in stream_settings.environment().items():
        monkeypatch.setenv(name, value)
    return stream_settings


def redrive(capsys: pytest.CaptureFixture[str], *options: str) -> list[dict[str, Any]]:
    """What ``lead-router redrive ... --format json`` said of each selected record."""
    assert main(["redrive", *options, "--format", "json"]) == 0
    found: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return found


def write(settings: Settings, topic: str, key: bytes, value: bytes, headers: Any = None) -> None:
    """A record written by hand, as another tool (or a forger) would."""
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0


def delivered(settings: Settings, partner: str) -> list[str]:
    """The leads on the partner's delivery topic, in order."""
    with reading(settings, settings.topics.delivery_topic(partner), "LeadDelivery") as topic:
        return [record["lead_id"] for record in topic.drain()]


def test_a_dead_letter_redriven_after_the_fix_is_routed_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A publisher ahead of lead-router's LeadSubmitted is dead-lettered (unknown-fingerprint);
    once the processor is given the publisher's schema (WRITER_SCHEMAS_DIR), a redrive routes
    the lead once, and neither a second redrive nor a forged copy sells it again."""
    apply_rules(settings, RULES)
    Topics(settings).ensure_base()
    write(
        settings,
        settings.topics.input_topic,
        b"ahead",
        written_with("v2", lead("ahead", "Service", None)),
    )
    with reading(settings, settings.topics.dlq_topic, None) as dlq, running(settings):
        [letter] = dlq.wait_for(1)
    assert letter["headers"][ERROR_HEADER] == b"unknown-fingerprint"
    write(settings, settings.topics.dlq_topic, b"junk", b"not a dead letter")

    planned = redrive(capsys, "--from", "dlq", "--dry-run")
    assert planned[0] == {
        "lead_id": "ahead",
        "from": f"{settings.topics.dlq_topic}/0/{letter['offset']}",
        "reason": "unknown-fingerprint",
        "status": "would-publish",
        "why": None,
    }
    assert [(r["lead_id"], r["status"], r["why"]) for r in planned[1:]] == [
        ("junk", "not-redrivable", f"not a dead letter: no {ERROR_HEADER} header")
    ]
    first = redrive(capsys, "--from", "dlq", "--reason", "unknown-fingerprint")
    assert [(r["lead_id"], r["status"]) for r in first] == [("ahead", "published")]
    again = redrive(capsys, "--from", "dlq", "--lead", "ahead")
    assert [r["status"] for r in again] == ["already-redriven"]
    assert again[0]["why"] == f"as {settings.topics.input_topic}/0/1"

    with reading(settings, settings.topics.input_topic, None) as inputs:
        original, redriven = inputs.wait_for(2)
    assert redriven["raw"] == original["raw"] and redriven["key"] == b"ahead"
    assert redriven["headers"] == {REDRIVEN_HEADER: first[0]["from"].encode()}
    # A forged copy of the redriven record, header and all.
    write(settings, settings.topics.input_topic, b"ahead", redriven["raw"], redriven["header_list"])

    fixed = settings.with_changes(writer_schemas_dir=FIXTURES)
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(fixed),
    ):
        decisions = audit.wait_for(2)
    assert [(d["lead_id"], d["outcome"]) for d in decisions] == [
        ("ahead", "routed"),
        ("ahead", "duplicate"),
    ]
    assert delivered(settings, "service-desk") == ["ahead"]
    assert [r["status"] for r in redrive(capsys, "--from", "dlq")] == [
        "already-redriven",
        "not-redrivable",
    ]


def test_an_unroutable_lead_redriven_after_the_fix_is_routed_not_a_duplicate(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_rules(settings, RULES)
    publish(settings, [lead("lost", None, "CA"), lead("sold", "Service", None)])
    with reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(settings):
            decisions = audit.wait_for(2)
        assert [d["outcome"] for d in decisions] == ["unroutable", "routed"]
        Topics(settings).ensure_base()
        write(settings, settings.topics.unroutable_topic, b"junk", b"junk")
        # An unroutable decision of an older processor: no lead, only the input record's place.
        older = {**decisions[0], "lead": None}
        codec = Codec()
        value = codec.encode(settings.topics.unroutable_topic, "RoutingDecision", older)
        write(settings, settings.topics.unroutable_topic, b"lost", value)

        apply_rules(settings, FIXED_RULES)
        done = redrive(capsys, "--from", "unroutable", "--since", "1h")
        assert [(r["lead_id"], r["status"]) for r in done] == [
            ("lost", "published"),
            ("junk", "not-redrivable"),
            ("lost", "published"),
        ]
        assert done[0]["reason"] == "no tier has a candidate and the profile has no fallback"
        assert done[1]["why"] == "not a RoutingDecision (unknown-framing)"

        with running(settings):
            redecided = audit.wait_for(4)[2:]
    # The first redriven copy is routed; the one redriven from the older record is its duplicate.
    assert [(d["lead_id"], d["outcome"]) for d in redecided] == [
        ("lost", "routed"),
        ("lost", "duplicate"),
    ]
    trace = json.loads(redecided[0]["trace"])
    assert [e["step"] for e in trace if e["step"] == "redrive"] == ["redrive"]
    assert delivered(settings, "sales") == ["lost"]

    assert main(["redrive", "--from", "unroutable"]) == 0
    table = capsys.readouterr().out
    assert "already-redriven: as" in table and "unknown-framing" in table
    assert "2 already redriven, 1 not redrivable, of 3 records selected on " in table
