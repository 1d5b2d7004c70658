"""Replay on the real broker: its "after" is what a processor running the new rules then decides.

The processor routes a first batch of leads under v1 (building caps, rotation and duplicate
memory), then a second batch, the span. Replay tries v2 over the span. The truth to hold it to: a
second processor, on topics of its own, given a copy of the input in the order the first decided
it, routes the first batch under v1, switches to v2, and routes the span.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import ConfigResource
from samples import leads
from streamkit import apply_rules, publish, reading, running

from processor.cli import main
from processor.control.state import read_config
from processor.kafka.clients import admin
from processor.replay.run import replay
from processor.rules import load_rules
from processor.settings import Settings
from processor.stream.topics import Topics
from processor.wire import Codec

V1 = """
partners:
  - {id: buyer-a, format: json, destinations: ["https://a.example.com"],
     caps: [{per: day, leads: 12}], timezone: America/New_York}
  - {id: buyer-b, format: json, destinations: ["https://b.example.com"]}
  - {id: buyer-c, format: json, destinations: ["https://c.example.com"]}
  - {id: bdc, format: json, destinations: ["https://bdc.example.com"]}
profiles:
  - id: market
    sources: [market]
    strategy: round_robin
    base_price: 20
    currency: USD
    fallback: bdc
    duplicates: {keys: [contact.email], within: 1d}
    assignments:
      - {id: a, partner: buyer-a, price: 30}
      - {id: b, partner: buyer-b}
      - {id: c, partner: buyer-c, filter: [[{field: budget, op: gte, value: 50000}]]}
  - id: dealer
    sources: [dealer-web]
    strategy: first_match
    fallback: bdc
    assignments:
      - {id: d, partner: buyer-b, category: Service}
"""

V2 = V1.replace("- {id: b, partner: buyer-b}", "- {id: b, partner: buyer-b, price: 25}").replace(
    "value: 50000", "value: 30000"
)
"""buyer-b's price goes up, and buyer-c takes more budgets: prices, rotation and caps shift."""

SITES = ("market", "market", "market", "dealer-web", "elsewhere")


def batch(count: int, prefix: str) -> list[dict[str, Any]]:
    """Leads of the mix above; every seventh repeats an earlier person's email."""
    out = leads(count, prefix, SITES)
    for n, lead in enumerate(out):
        person = n - 5 if n % 7 == 6 else n
        lead["contact"] = {"email": f"{prefix}-person-{person}@example.com"}
        lead["fields"]["email"] = None
    return out


def summary(decision: dict[str, Any]) -> tuple[Any, ...]:
    deliveries = sorted(
        (d["partner"], d["assignment"], d["price"], d["currency"]) for d in decision["deliveries"]
    )
    return (decision["outcome"], decision["profile"], decision["duplicate_of"], deliveries)


def other(settings: Settings) -> Settings:
    """The same processor's settings with topics, group and state of their own, one partition."""
    suffix = uuid.uuid4().hex[:12]
    names = [
        "group_id",
        "transactional_id",
        "input_topic",
        "config_topic",
        "config_history_topic",
        "audit_topic",
        "unroutable_topic",
        "dlq_topic",
        "decide_topic",
        "state_topic",
    ]
    changes: dict[str, Any] = {name: f"{name}-{suffix}" for name in names}
    changes["delivery_topic_prefix"] = f"deliveries-{suffix}."
    changes["topic_partitions"] = 1
    return settings.with_changes(**changes)


def wait_for_version(app: Any, version: str) -> None:
    deadline = time.monotonic() + 60
    while app.rules_version != version:
        assert time.monotonic() < deadline, f"version {version} never took effect"
        time.sleep(0.05)


@pytest.fixture
def spread(stream_settings: Settings) -> Settings:
    """The processor under test reads an input topic of three partitions."""
    return stream_settings.with_changes(topic_partitions=3)


def test_replay_reports_exactly_what_a_processor_on_the_new_rules_then_decides(
    spread: Settings, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, span = batch(60, "early"), batch(150, "span")
    by_id = {lead["lead_id"]: lead for lead in first + span}
    apply_rules(spread, V1)
    with reading(spread, spread.topics.audit_topic, "RoutingDecision") as audit:
        with running(spread):
            publish(spread, first)
            audit.wait_for(len(first))
            since = datetime.now(UTC)
            publish(spread, span)
            audit.wait_for(len(first) + len(span))
        decided = audit.drain()
    assert len(decided) == len(first) + len(span)

    report = replay(spread, load_rules(V2), since)

    # The truth: the input copied in the order of decisions, to a processor that switches to v2
    # where the span begins.
    order = [by_id[d["lead_id"]] for d in sorted(decided, key=lambda d: d["sequence"])]
    truth = other(spread)
    apply_rules(truth, V1)
    with reading(truth, truth.topics.audit_topic, "RoutingDecision") as audit:
        with running(truth) as app:
            publish(truth, order[: len(first)])
            audit.wait_for(len(first))
            wait_for_version(app, apply_rules(truth, V2))
            publish(truth, order[len(first) :])
            audit.wait_for(len(first) + len(span))
        then = {d["lead_id"]: d for d in audit.drain()}

    before = {d["lead_id"]: d for d in decided}
    span_ids = {lead["lead_id"] for lead in span}
    changed = {i for i in span_ids if summary(before[i]) != summary(then[i])}
    assert changed, "v2 changes some decisions of the span"
    assert report.leads == len(span)
    assert report.exact and report.missing == 0, report.inexact_why
    assert {change.lead_id for change in report.changes} == changed
    for change in report.changes:
        after = change.after
        deliveries = sorted(
            (d.partner, d.assignment, d.price, d.currency) for d in after.deliveries
        )
        assert (after.outcome, after.profile, after.duplicate_of, deliveries) == summary(
            then[change.lead_id]
        )
        assert change.why, "each change is explained"
    delivered = Counter(d["partner"] for i in span_ids for d in then[i]["deliveries"])
    assert report.after.deliveries == delivered
    assert report.before.deliveries == Counter(
        d["partner"] for i in span_ids for d in before[i]["deliveries"]
    )
    assert report.after.outcomes != report.before.outcomes or report.after.deliveries != (
        report.before.deliveries
    )

    # The command says the same, for machines.
    for name, value in spread.environment().items():
        monkeypatch.setenv(name, value)
    rules = tmp_path / "v2.yaml"
    rules.write_text(V2)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(
            ["replay", "--rules", str(rules), "--since", since.isoformat(), "--format", "json"]
        )
    assert code == 0
    found = json.loads(out.getvalue())
    assert found["leads"] == len(span) and found["state_exact"]
    assert {c["lead_id"] for c in found["changes"]} == changed

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["replay", "--rules", str(rules), "--since", since.isoformat(), "--show", "3"])
    text = out.getvalue()
    assert code == 0
    assert f"{len(changed)} leads would be decided differently" in text
    assert "Deliveries and revenue per partner" in text and "state at the start: exact" in text

    # rules apply --what-if shows the same report, and publishes only when confirmed.
    in_force = read_config(spread).version
    for confirm, code_wanted in (([], 8), (["--yes"], 0)):
        shown = io.StringIO()
        with redirect_stderr(shown), redirect_stdout(io.StringIO()):
            code = main(["rules", "apply", str(rules), "--what-if", since.isoformat(), *confirm])
        assert code == code_wanted
        assert f"{len(changed)} leads would be decided differently" in shown.getvalue()
        if confirm:
            assert read_config(spread).version != in_force
        else:
            assert "nothing was written" in shown.getvalue()
            assert read_config(spread).version == in_force


def test_the_state_topic_keeps_every_change_for_the_replay_horizon(
    stream_settings: Settings,
) -> None:
    settings = stream_settings.with_changes(state_history_days=3)
    Topics(settings).ensure_base()
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.topics.state_topic)
    client = admin(settings.kafka)  # held while its future is pending
    (found,) = client.describe_configs([resource]).values()
    config = found.result(timeout=30)
    assert config["cleanup.policy"].value == "compact"
    assert config["min.compaction.lag.ms"].value == str(3 * 86_400_000)


def test_audit_records_naming_places_no_lead_can_have_are_missing_leads_not_a_stall(
    stream_settings: Settings,
) -> None:
    """Anyone who can write to the audit topic can name any input place: a partition the input
    topic lacks, a negative (logical) offset, an offset past the end. Each is a missing lead; the
    real leads of the span are still replayed, and the report says its state may be off."""
    apply_rules(stream_settings, V1)
    sample = batch(30, "real")
    topic = stream_settings.topics.audit_topic
    with reading(stream_settings, topic, "RoutingDecision") as audit, running(stream_settings):
        since = datetime.now(UTC)
        publish(stream_settings, sample)
        decided = audit.wait_for(len(sample))
    codec = Codec()
    producer = Producer({"bootstrap.servers": stream_settings.kafka.bootstrap_servers})
    template = dict(decided[-1])
    for partition, offset in ((99, 0), (0, -2), (0, 10**12)):
        forged = {
            **{k: v for k, v in template.items() if k not in ("raw", "partition", "offset")},
            "lead_id": f"forged-{partition}-{offset}",
            "source": {
                "topic": stream_settings.topics.input_topic,
                "partition": partition,
                "offset": offset,
            },
            "sequence": 10**9 + offset % 1000 + partition,
            "decided_at": datetime.now(UTC),
        }
        value = codec.encode(stream_settings.topics.audit_topic, "RoutingDecision", forged)
        producer.produce(stream_settings.topics.audit_topic, key=b"forged", value=value)
    assert producer.flush(30) == 0

    report = replay(stream_settings, load_rules(V1), since)

    assert report.leads == len(sample) and report.missing == 3
    assert not report.exact and "no longer on" in (report.inexact_why or "")
    assert report.changed == 0, "the real leads decide as they did"


def test_replay_of_a_span_without_leads_says_so(stream_settings: Settings) -> None:
    apply_rules(stream_settings, V1)
    publish(stream_settings, [])
    report = replay(stream_settings, load_rules(V1), datetime.now(UTC))
    assert report.leads == 0 and not report.changes
