"""The distribution log on a real broker: ``audit show`` explains a lead, ``audit tail`` follows."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import pytest
from confluent_kafka import Producer
from samples import DEALER_RULES as RULES
from streamkit import apply_rules, publish, reading, running, settings_env

from processor.cli import main
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0


def lead(lead_id: str, category: str | None, state: str | None, site: str = "dealer-web") -> Any:
    return {
        "lead_id": lead_id,
        "submitted_at": "2026-11-20T10:00:00Z",
        "site_id": site,
        "interest_category": category,
        "address": {"state": state},
    }


def flags(settings: Settings) -> list[str]:
    return [
        "--bootstrap-servers",
        settings.kafka.bootstrap_servers,
        "--audit-topic",
        settings.topics.audit_topic,
    ]


def test_audit_show_explains_every_decision_for_a_lead_newest_last(
    stream_settings: Settings, capsys: Any
) -> None:
    settings = stream_settings
    apply_rules(settings, RULES)
    invalid = Codec().encode(
        settings.topics.input_topic,
        "LeadSubmitted",
        {**lead_from_json(lead("broken", None, None)), "site_id": " "},
    )
    # "twice" is published twice, as an upstream retry would (the second time changed): the
    # second is a duplicate of the first and sold to nobody.
    publish(
        settings,
        [
            lead("twice", "Service", None),
            lead("nowhere", None, None, site="elsewhere"),
            invalid,
            lead("twice", "New Models", "NY"),
        ],
    )
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        audit.wait_for(4)

    assert main(["audit", "show", "twice", *flags(settings)]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("lead twice was decided 2 times (published more than once)")
    first = shown.index("lead twice: routed to service-desk at 15.00 USD (assignment service)")
    second = shown.index("lead twice: duplicate")
    assert first < second  # newest last
    assert "by rules version 1; input" in shown
    assert "  - profile dealer: site_id 'dealer-web' is one of its sources" in shown
    assert "  - duplicate of twice: lead id 'twice' was decided before (routed" in shown

    assert main(["audit", "show", "twice", "--format", "json", *flags(settings)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["outcome"] for r in records] == ["routed", "duplicate"]
    assert [[d["partner"] for d in r["deliveries"]] for r in records] == [["service-desk"], []]
    assert records[1]["duplicate_of"] == "twice"
    assert records[0]["decided_at"] <= records[1]["decided_at"]
    # The trace as dry-run gives it: where the visitor is, then which profile took the lead.
    assert [step["step"] for step in records[0]["trace"][:2]] == ["geo", "profile"]

    assert main(["audit", "show", "nowhere", *flags(settings)]) == 0
    assert "lead nowhere: unroutable" in capsys.readouterr().out

    assert main(["audit", "show", "broken", *flags(settings)]) == 0
    explained = capsys.readouterr().out
    assert "lead broken: rejected (invalid-lead: site_id" in explained
    assert "before routing" in explained


def test_audit_show_of_a_lead_never_seen_exits_1(stream_settings: Settings, capsys: Any) -> None:
    assert main(["audit", "show", "ghost", *flags(stream_settings)]) == 1
    assert f"no decision for lead 'ghost' on {stream_settings.topics.audit_topic}" in (
        capsys.readouterr().err
    )


@contextmanager
def tail(settings: Settings, output: str) -> Iterator[queue.Queue[str]]:
    """``lead-router audit tail`` as a process, once it follows; its output lines in a queue.

    On exit it gets SIGINT, as from Ctrl-C, and must end with 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "processor", "audit", "tail", "--format", output],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        following = _lines(process.stderr).get(timeout=DEADLINE_S)
        assert following == f"following {settings.topics.audit_topic}; Ctrl-C stops"
        yield _lines(process.stdout)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait(30)


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def take(lines: queue.Queue[str], count: int) -> list[str]:
    deadline = time.monotonic() + DEADLINE_S
    return [lines.get(timeout=max(0.1, deadline - time.monotonic())) for _ in range(count)]


def test_audit_tail_follows_decisions_as_they_are_committed(stream_settings: Settings) -> None:
    settings = stream_settings
    apply_rules(settings, RULES)
    Topics(settings).ensure_base()
    publish(settings, [lead("before", "Service", None)])
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        audit.wait_for(1)  # decided before the tails start: they must not show it
        with tail(settings, "json") as as_json, tail(settings, "text") as as_text:
            publish(settings, [lead("a", "Service", None), lead("b", None, "NY")])
            records = [json.loads(line) for line in take(as_json, 2)]
            texts = take(as_text, 2)

    assert [r["lead_id"] for r in records] == ["a", "b"]
    assert [r["deliveries"][0]["partner"] for r in records] == ["service-desk", "sales"]
    assert texts[0].endswith("  a  routed      service-desk 15.00 USD")
    assert texts[1].endswith("  b  routed      sales 10.00 USD")


def write_old_decision(settings: Settings, lead_id: str, **decision: Any) -> None:
    """A decision of three days ago, as the processor wrote it then: the record's time is when
    the decision was made."""
    Topics(settings).ensure_base()
    days_ago = datetime.now(UTC) - timedelta(days=3)
    record = {
        "lead_id": lead_id,
        "outcome": "unroutable",
        "deliveries": [],
        "trace": "[]",
        "source": {"topic": settings.topics.input_topic, "partition": 0, "offset": 0},
        "decided_at": days_ago,
    } | decision
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(
        settings.topics.audit_topic,
        key=lead_id.encode(),
        value=Codec().encode(settings.topics.audit_topic, "RoutingDecision", record),
        timestamp=int(days_ago.timestamp() * 1000),
    )
    assert producer.flush(30) == 0


def test_audit_search_finds_decisions_of_the_span_by_partner_outcome_and_profile(
    stream_settings: Settings, capsys: Any
) -> None:
    settings = stream_settings
    apply_rules(settings, RULES)
    delivery = {"delivery_id": "d", "partner": "service-desk", "price": 15.0, "currency": "USD"}
    write_old_decision(settings, "old", outcome="routed", profile="dealer", deliveries=[delivery])
    publish(
        settings,
        [
            lead("svc", "Service", None),
            lead("ny", None, "NY"),
            lead("nowhere", None, None, site="elsewhere"),
        ],
    )
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        audit.wait_for(4)

    def search(*options: str) -> tuple[list[str], str]:
        assert main(["audit", "search", *options, "--format", "json", *flags(settings)]) == 0
        out, err = capsys.readouterr()
        return [json.loads(line)["lead_id"] for line in out.splitlines()], err

    # The default span is the last 24 hours: the decision of three days ago is not in it.
    found, count = search("--partner", "service-desk")
    assert found == ["svc"]
    assert count.startswith("1 of 3 decisions from ")
    assert search("--outcome", "unroutable")[0] == ["nowhere"]
    assert search("--profile", "dealer")[0] == ["svc", "ny"]
    assert search("--lead", "ny")[0] == ["ny"]
    assert search("--partner", "service-desk", "--since", "7d")[0] == ["old", "svc"]  # newest last
    assert search("--since", "7d", "--until", "1d")[0] == ["old"]
    found, count = search("--since", "7d", "--limit", "1")
    assert found == ["nowhere"]
    assert count.rstrip().endswith("--limit reached: the newest 1 shown")

    assert main(["audit", "search", "--outcome", "routed", *flags(settings)]) == 0
    table = capsys.readouterr().out
    assert "svc" in table and "service-desk" in table and "nowhere" not in table
    assert "2 of 3 decisions from " in table

    assert main(["audit", "search", "--since", "forever", *flags(settings)]) == 1
    assert "bad duration 'forever'" in capsys.readouterr().err


def test_audit_show_since_leaves_older_decisions_out(
    stream_settings: Settings, capsys: Any
) -> None:
    write_old_decision(stream_settings, "old")
    assert main(["audit", "show", "old", *flags(stream_settings)]) == 0
    assert "lead old: unroutable" in capsys.readouterr().out
    assert main(["audit", "show", "old", "--since", "2d", *flags(stream_settings)]) == 1
    assert "no decision for lead 'old' on" in capsys.readouterr().err


def test_audit_show_explains_on_demand_what_the_audit_record_only_counts(
    stream_settings: Settings, capsys: Any
) -> None:
    """The processor's audit record counts the assignments that did not match; ``audit show``
    explains them from the rules version (history topic) and the lead (input topic)."""
    settings = stream_settings
    apply_rules(settings, RULES)
    publish(settings, [lead("texan", "New Models", "TX")])
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        [stored] = audit.wait_for(1)
    assert json.loads(stored["trace"])[-2:][0] == {
        "step": "not_shown",
        "tier": "all",
        "assignments": 1,
        "why": "did not match; raise the trace limit to see why",
    }
    history = [
        "--input-topic",
        settings.topics.input_topic,
        "--config-topic",
        settings.topics.config_topic,
        "--config-history-topic",
        settings.topics.config_history_topic,
    ]

    assert main(["audit", "show", "texan", *flags(settings), *history]) == 0
    shown = capsys.readouterr()
    assert (
        "  - assignment ny-sales -> sales did not match: OR-set 0: address.state equals 'NY' "
        "failed (the lead has 'TX')"
    ) in shown.out
    assert "more assignments" not in shown.out
    assert shown.err == ""

    assert main(["audit", "show", "texan", "--trace-limit", "0", *flags(settings), *history]) == 0
    assert "1 more assignments did not match" in capsys.readouterr().out

    # Where the history holds no such version, the stored trace is shown, and why it was not
    # explained.
    elsewhere = ["--config-history-topic", f"{settings.topics.config_history_topic}-elsewhere"]
    assert main(["audit", "show", "texan", *flags(settings), *elsewhere]) == 0
    shown = capsys.readouterr()
    assert "1 more assignments did not match" in shown.out
    assert "not explained: no version 1 in " in shown.err

    # Anyone who can write the audit topic can name any record: one of another topic, or one
    # past the input topic's end, is not read (a read there would wait out its timeout).
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for topic, offset in ((settings.topics.dlq_topic, 0), (settings.topics.input_topic, 10**9)):
        forged = {**stored, "source": {"topic": topic, "partition": 0, "offset": offset}}
        producer.produce(
            settings.topics.audit_topic,
            key=b"texan",
            value=codec.encode(settings.topics.audit_topic, "RoutingDecision", forged),
        )
    producer.flush(30)
    assert main(["audit", "show", "texan", *flags(settings), *history]) == 0
    shown = capsys.readouterr()
    assert shown.out.startswith("lead texan was decided 3 times")
    assert shown.out.count("ny-sales -> sales did not match") == 1
    assert f"not explained: {settings.topics.dlq_topic}[0]@0 is not a record of" in shown.err
    assert f"{settings.topics.input_topic}[0]@1000000000 is not held (the partition holds " in (
        shown.err
    )
