"""Rules that would stall routing or swell its audit records, on a real broker: every lead is still
decided, and the leads around the hostile one keep flowing."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from streamkit import TopicReader, apply_rules, publish, reading, running, start_process

from processor.kafka.records import ERROR_HEADER
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec, lead_from_json

pytestmark = pytest.mark.integration

PARTNERS = """
partners:
  - {id: crm, format: json, destinations: ["https://crm.example"]}
  - {id: bdc, format: json, destinations: ["https://bdc.example"]}
"""


def one_rule(condition: str) -> str:
    """Leads of site ``web`` go to crm when ``condition`` holds, else to bdc (fallback)."""
    return (
        PARTNERS
        + f"""
profiles:
  - id: main
    sources: [web]
    fallback: bdc
    assignments:
      - {{id: rule, partner: crm, filter: [[{condition}]]}}
"""
    )


def lead(lead_id: str, comments: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    return {"lead_id": lead_id, "submitted_at": now, "site_id": "web", "comments": comments}


class StampedReader(TopicReader):
    """Notes when each record was read: committed, as a read_committed consumer sees it."""

    def _take(self, timeout: float) -> bool:
        taken = super()._take(timeout)
        if taken:
            self.records[-1]["read_at"] = time.time()
        return taken


def publish_paced(
    settings: Settings, leads: list[dict[str, Any]], per_second: float, sent: dict[str, float]
) -> None:
    """Publishes the leads one by one at a steady pace, each stamped as submitted when sent (also
    in ``sent``), as a live intake would; a burst published at once would measure the backlog."""
    Topics(settings).ensure_base()
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 0})
    started = time.monotonic()
    for position, item in enumerate(leads):
        while time.monotonic() < started + position / per_second:
            producer.poll(0.001)
        sent[item["lead_id"]] = time.time()
        stamped = item | {"submitted_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        value = codec.encode(settings.topics.input_topic, "LeadSubmitted", lead_from_json(stamped))
        producer.produce(settings.topics.input_topic, key=item["lead_id"].encode(), value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, and a kill for a processor that cannot take it (stuck in a C call)."""
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(60) == 0, log.read_text()
    finally:
        process.kill()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_a_catastrophic_pattern_decides_its_lead_and_the_others_keep_flowing(
    stream_settings: Settings, tmp_path: Path, record_property: Any
) -> None:
    """``(a+)+$`` on 40 ``a``s and a ``!`` took Python's ``re`` about a day, and the processor
    with it. With RE2 the lead goes to fallback like any other that does not match, and the
    ordinary leads around it are decided as ever. Asserted: every lead decided once, the hostile
    one correctly. Reported (``record_property``, and printed with ``-s``): the other leads' p50
    and p99 from submitted to read by a read_committed consumer. A timing bound would be flaky on
    a shared 2-core machine; under a backtracking engine these leads were never decided at all."""
    apply_rules(stream_settings, one_rule('{field: comments, op: matches, value: "(a+)+$"}'))
    leads = [lead(f"lead-{i}", "a trade-in? yes, a" if i % 2 else "hello") for i in range(300)]
    leads.insert(50, lead("redos", "a" * 40 + "!"))
    sent: dict[str, float] = {}
    log = tmp_path / "processor.log"
    audit = StampedReader(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision")
    process = start_process(stream_settings, log)  # lead-router run, as deployed
    try:
        # A first lead decided: the processor has started and holds its partition, so what is
        # measured below is routing, not start-up.
        publish_paced(stream_settings, [lead("first", "hello")], 1.0, {})
        audit.wait_for(1)
        publisher = threading.Thread(
            target=publish_paced, args=(stream_settings, leads, 100.0, sent), daemon=True
        )
        publisher.start()
        audit.wait_for(1 + len(leads))
        publisher.join(60)
    finally:
        stop(process, log)
        audit.close()
    records = audit.records[1:]
    decisions = {d["lead_id"]: d for d in records}
    assert len(records) == len(leads) and set(decisions) == set(sent)  # each once
    redos = decisions["redos"]
    assert (redos["outcome"], redos["deliveries"][0]["partner"]) == ("fallback", "bdc")
    assert {decisions[f"lead-{i}"]["outcome"] for i in range(300)} == {"routed", "fallback"}

    others = [d["read_at"] - sent[d["lead_id"]] for d in records if d["lead_id"] != "redos"]
    p50_ms, p99_ms = (round(1000 * quantile(others, q)) for q in (0.5, 0.99))
    record_property("p50_ms", p50_ms)
    record_property("p99_ms", p99_ms)
    print(
        f"the {len(others)} other leads, submitted to committed: p50 {p50_ms} ms, p99 {p99_ms} ms"
    )


def test_a_lead_slower_than_the_routing_budget_is_dead_lettered_and_the_others_flow(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """A legitimate route made slow: ``a.{400}c`` needs more states than RE2's DFA may keep, so
    RE2 runs its slower (still linear) simulation, about 1.8 s on a 400,000-character comment;
    other leads take a millisecond. With a 250 ms budget that one lead is dead-lettered as
    too-slow, and every lead behind it is routed."""
    settings = stream_settings.with_changes(routing_budget_ms=250)
    apply_rules(settings, one_rule('{field: comments, op: matches, value: "a.{400}c"}'))
    chance = random.Random(7)
    noise = "".join(chance.choice("ab") for _ in range(400_000))
    leads = [lead(f"lead-{i}", "hello") for i in range(100)]
    leads.insert(30, lead("slow", noise))
    publish(settings, leads)
    log = tmp_path / "processor.log"
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(settings, settings.topics.dlq_topic, None) as dead,
    ):
        process = start_process(settings, log)  # the main thread: the budget interrupts
        try:
            audit.wait_for(len(leads))
            dead.wait_for(1)
        finally:
            stop(process, log)
        decisions = {d["lead_id"]: d for d in audit.drain()}
        [letter] = dead.drain()
    assert len(decisions) == len(leads)
    assert decisions["slow"]["outcome"] == "rejected"
    assert decisions["slow"]["error"].startswith("too-slow: routing ")
    assert {decisions[f"lead-{i}"]["outcome"] for i in range(100)} == {"fallback"}
    assert (letter["key"], letter["headers"][ERROR_HEADER]) == (b"slow", b"too-slow")


POSTCODES = list(range(10_000, 110_000))


def test_a_lead_failing_a_100000_item_list_goes_to_fallback_with_a_small_audit_record(
    stream_settings: Settings,
) -> None:
    """The trace once copied each failed condition's whole list into the audit record: 700 kB
    for this lead, over a 500 kB record limit, so a valid lead was dead-lettered as too-large
    while dry-run said fallback. The trace now shows the list's first items and its length (here
    with the words stored in the audit record, as an operator may set it)."""
    settings = stream_settings.with_changes(max_record_bytes=500_000, audit_trace_failures=3)
    in_list = {"field": "address.postcode", "op": "in_list", "value": POSTCODES}
    rules = {
        "partners": [
            {"id": "crm", "format": "json", "destinations": ["https://crm.example"]},
            {"id": "bdc", "format": "json", "destinations": ["https://bdc.example"]},
        ],
        "profiles": [
            {
                "id": "main",
                "sources": ["web"],
                "fallback": "bdc",
                "assignments": [{"id": "postcodes", "partner": "crm", "filter": [[in_list]]}],
            }
        ],
    }
    apply_rules(settings, json.dumps(rules))
    tiny = {"lead_id": "tiny", "submitted_at": "2026-11-20T10:00:00Z", "site_id": "web"}
    publish(settings, [tiny])
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        running(settings),
    ):
        [decision] = audit.wait_for(1)
    assert decision["outcome"] == "fallback"
    assert decision["deliveries"][0]["partner"] == "bdc"
    assert len(decision["raw"]) < 5_000  # the limit is 500,000
    [failed] = next(e for e in json.loads(decision["trace"]) if e["step"] == "assignment")["failed"]
    assert failed["value"] == {"first": POSTCODES[:5], "count": 100_000}
