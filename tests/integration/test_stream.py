"""The stream processor on a real broker: routing, hot rules, bad input, SIGTERM and restart."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY
from samples import PARTNERS, RULES, leads, summary
from streamkit import (
    apply_rules,
    dry_run,
    publish,
    reading,
    running,
    start_process,
)

from processor.geo.enrich import Enricher
from processor.kafka.records import ERROR_HEADER, OFFSET_HEADER
from processor.localkafka import free_port
from processor.rules.deliveries import delivery_id
from processor.settings import Settings
from processor.wire import Codec, lead_from_json

pytestmark = pytest.mark.integration


def test_routes_every_lead_once_as_dry_run_decides(
    stream_settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    version = apply_rules(stream_settings, rules)
    sample = leads(400)
    publish(stream_settings, sample)

    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(stream_settings) as app:
            audit.wait_for(len(sample))
            assert app.ready
        decisions = audit.drain()

    expected = {d["lead_id"]: d for d in dry_run(rules, sample, tmp_path)}
    assert Counter(d["lead_id"] for d in decisions) == Counter(list(expected))  # exactly once
    for decision in decisions:
        assert summary(decision) == summary(expected[decision["lead_id"]])
        assert decision["rules_version"] == version
    assert {d["outcome"] for d in decisions} == {"routed", "fallback", "unroutable"}

    wanted = Counter(
        (d["partner"], lead_id) for lead_id, x in expected.items() for d in x["deliveries"]
    )
    got: Counter[tuple[str, str]] = Counter()
    for partner in PARTNERS:
        topic = stream_settings.topics.delivery_topic(partner)
        with reading(stream_settings, topic, "LeadDelivery") as deliveries:
            for record in deliveries.drain():
                got[(partner, record["lead_id"])] += 1
                assert record["delivery_id"] == delivery_id(record["lead_id"], partner)
                assert record["lead"]["lead_id"] == record["lead_id"]
    assert got == wanted

    # Every decision has its own place in the order of decisions, which replay follows.
    sequences = [d["sequence"] for d in decisions]
    assert None not in sequences and len(set(sequences)) == len(decisions)

    codec = Codec.for_registry(stream_settings.registry)
    with reading(stream_settings, stream_settings.topics.unroutable_topic, "RoutingDecision") as r:
        parked = r.drain()
    unroutable = {d["lead_id"] for d in parked}
    assert unroutable == {k for k, d in expected.items() if d["outcome"] == "unroutable"}
    # The unroutable copy carries the lead itself, for a redrive; the audit copy does not.
    for copy in parked:
        lead = codec.decode(stream_settings.topics.input_topic, copy["lead"], "LeadSubmitted")
        assert lead["lead_id"] == copy["lead_id"]
    assert all(d["lead"] is None for d in decisions)


def test_rules_change_takes_effect_at_its_version_and_not_before(
    stream_settings: Settings,
) -> None:
    first = apply_rules(stream_settings, RULES)
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(stream_settings) as app:
            publish(stream_settings, leads(40, "before"))
            audit.wait_for(40)

            # A part written without a closing version record must change nothing.
            producer = Producer({"bootstrap.servers": stream_settings.kafka.bootstrap_servers})
            producer.produce(
                stream_settings.topics.config_topic,
                key=b"profile/market",
                value=b'{"id": "market", "sources": ["market"], "assignments": []}',
            )
            producer.flush(10)
            publish(stream_settings, leads(40, "stray-part"))
            audit.wait_for(80)

            second = apply_rules(stream_settings, RULES.replace("price: 30", "price: 99"))
            # The config topic and the input topic are read independently: wait until the
            # processor has read the version record, as an operator would watch for it.
            deadline = time.monotonic() + 60
            while app.rules_version != second:
                assert time.monotonic() < deadline, "the new version never took effect"
                time.sleep(0.05)
            publish(stream_settings, leads(40, "after"))
            audit.wait_for(120)
        decisions = audit.drain()

    assert second != first
    by_batch: dict[str, set[str]] = {}
    prices: dict[str, set[float]] = {}
    for d in decisions:
        batch = d["lead_id"].rsplit("-", 1)[0]
        by_batch.setdefault(batch, set()).add(d["rules_version"])
        prices.setdefault(batch, set()).update(
            x["price"] for x in d["deliveries"] if x["assignment"] == "a"
        )
    assert by_batch == {"before": {first}, "stray-part": {first}, "after": {second}}
    versions = [d["rules_version"] for d in decisions]  # one partition: in input order
    assert versions == sorted(versions, key=int), "a lead went back to an older version"
    assert prices["before"] == prices["stray-part"] == {30.0}
    assert prices["after"] == {99.0}


def refused_total() -> float:
    return REGISTRY.get_sample_value("lead_router_rules_refused_total") or 0.0


def test_invalid_rules_version_is_refused_and_routing_continues(
    stream_settings: Settings,
) -> None:
    good = apply_rules(stream_settings, RULES)
    refused_before = refused_total()
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        with running(stream_settings):
            publish(stream_settings, leads(20, "one"))
            audit.wait_for(20)
            # Someone bypasses `rules apply`: a dangling partner reference, then a version record.
            producer = Producer(
                {
                    "bootstrap.servers": stream_settings.kafka.bootstrap_servers,
                    "transactional.id": "x",
                }
            )
            producer.init_transactions(30)
            producer.begin_transaction()
            producer.produce(
                stream_settings.topics.config_topic,
                key=b"profile/market",
                value=b'{"id": "market", "sources": ["market"], "fallback": "nobody"}',
            )
            producer.produce(
                stream_settings.topics.config_topic,
                key=b"meta/version",
                value=b'{"version": "bad"}',
            )
            producer.commit_transaction(30)
            publish(stream_settings, leads(20, "two"))
            audit.wait_for(40)
        decisions = audit.drain()
    assert {d["rules_version"] for d in decisions} == {good}
    assert refused_total() == refused_before + 1


def test_poison_records_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    stream_settings: Settings,
) -> None:
    apply_rules(stream_settings, RULES)
    good = leads(30)
    # Well-formed Avro, but not a valid lead: a publisher that skipped validation.
    invalid = Codec().encode(
        stream_settings.topics.input_topic,
        "LeadSubmitted",
        {**lead_from_json(good[0]), "lead_id": "no-site", "site_id": "  "},
    )
    batch: list[dict[str, Any] | bytes] = [
        *good[:10],
        b"",
        b"\x00\x00\x00\x00\x01",
        b"\xc3\x01\x00\x01",
        b"\xc3\x01" + b"\x00" * 8 + b"junk",
        b"not avro at all",
        *good[10:20],
        invalid,
        *good[20:],
    ]
    publish(stream_settings, batch)
    with (
        reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit,
        reading(stream_settings, stream_settings.topics.dlq_topic, None) as dlq,
    ):
        with running(stream_settings):
            audit.wait_for(31)
            dlq.wait_for(6)
        decisions = audit.drain()
        dead = dlq.drain()

    assert sorted(d["lead_id"] for d in decisions if d["outcome"] != "rejected") == sorted(
        lead["lead_id"] for lead in good
    )
    rejected = [d for d in decisions if d["outcome"] == "rejected"]
    assert [d["lead_id"] for d in rejected] == ["no-site"]
    assert "site_id" in rejected[0]["error"]
    reasons = [record["headers"][ERROR_HEADER].decode() for record in dead]
    assert reasons == [
        "empty",
        "no-registry",
        "truncated",
        "unknown-fingerprint",
        "unknown-framing",
        "invalid-lead",
    ]
    assert [int(r["headers"][OFFSET_HEADER]) for r in dead] == [10, 11, 12, 13, 14, 25]
    assert dead[4]["raw"] == b"not avro at all"  # the input bytes, untouched


def test_sigterm_mid_stream_then_restart_loses_and_duplicates_nothing(
    stream_settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    apply_rules(stream_settings, rules)
    sample = leads(3000)
    publish(stream_settings, sample)
    log = tmp_path / "processor.log"

    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        first = start_process(stream_settings, log)
        try:
            audit.wait_for(300)
            first.send_signal(signal.SIGTERM)
            assert first.wait(60) == 0, log.read_text()
        finally:
            first.kill()
        stopped_at = len(audit.drain())
        assert stopped_at < len(sample), "the processor finished before it was stopped"
        second = start_process(stream_settings, log)
        try:
            audit.wait_for(len(sample))
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0, log.read_text()
        decisions = audit.drain()

    assert Counter(d["lead_id"] for d in decisions) == Counter(x["lead_id"] for x in sample)
    # One partition, routed in order: across the restart, round_robin continued where it was.
    expected = {d["lead_id"]: d for d in dry_run(rules, sample, tmp_path)}
    for decision in decisions:
        assert summary(decision) == summary(expected[decision["lead_id"]])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError:
        return 0  # not listening yet


def test_ready_only_once_rules_are_in_force(stream_settings: Settings) -> None:
    port = free_port()
    settings = stream_settings.with_changes(metrics_port=port)
    base = f"http://127.0.0.1:{port}"
    with running(settings) as app:
        deadline = time.monotonic() + 60
        while http_status(f"{base}/healthz") != 200:
            assert time.monotonic() < deadline, "the metrics endpoint never answered"
        assert http_status(f"{base}/readyz") == 503  # no rules on the config topic yet
        assert not app.ready
        apply_rules(settings, RULES)
        while http_status(f"{base}/readyz") != 200:
            assert time.monotonic() < deadline, "never ready after the rules were applied"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            text = response.read().decode()
    assert 'lead_router_rules_version_info{version="1"} 1.0' in text
    assert "lead_router_ready 1.0" in text


def test_a_stopped_processor_closes_its_enricher(
    stream_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Enricher] = []
    close = Enricher.close

    def recording(enricher: Enricher) -> None:
        closed.append(enricher)
        close(enricher)

    monkeypatch.setattr(Enricher, "close", recording)
    apply_rules(stream_settings, RULES)
    sample = leads(3)
    publish(stream_settings, sample)
    with (
        reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit,
        running(stream_settings),
    ):
        audit.wait_for(len(sample))
        assert closed == []  # still in use while the processor runs
    assert len(closed) == 1


def test_stages_run_alone_route_as_both_do(stream_settings: Settings, tmp_path: Path) -> None:
    """A match instance and a decide instance beside it: the match one hands every lead over and
    decides none; the decide one decides each once, as dry-run does."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    apply_rules(stream_settings, rules)
    sample = leads(200)
    publish(stream_settings, sample)
    topics = stream_settings.topics

    with (
        reading(stream_settings, topics.audit_topic, "RoutingDecision") as audit,
        reading(stream_settings, topics.decide_topic, "LeadMatched") as handed_over,
    ):
        with running(stream_settings.with_changes(stages="match")):
            handed_over.wait_for(len(sample))
        assert audit.drain() == []
        with running(stream_settings.with_changes(stages="decide")):
            audit.wait_for(len(sample))
        decisions = audit.drain()

    assert Counter(d["lead_id"] for d in decisions) == Counter(x["lead_id"] for x in sample)
    expected = {d["lead_id"]: d for d in dry_run(rules, sample, tmp_path)}
    for decision in decisions:
        assert summary(decision) == summary(expected[decision["lead_id"]])
