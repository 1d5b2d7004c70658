"""The config topic as a trust boundary, on the real broker.

Whatever is written to the config topic by hand or by another tool (poison records, a part without
a version, a version without its parts), a processor keeps routing with the last good rules, a
restarted one starts with exactly those rules, and ``rules apply`` and ``rules status`` work over
it. ``rules apply`` is compare-and-set, and two applies racing never merge into a document neither
wrote.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client import REGISTRY
from samples import RULES, leads, summary
from streamkit import (
    DEADLINE_S,
    apply_rules,
    publish,
    reading,
    running,
    settings_env,
    start_dry_run,
)

from processor.control import history as history_module
from processor.control.publisher import VersionConflict, publish_rules
from processor.control.records import VERSION_KEY, digest_of
from processor.control.state import read_config
from processor.errors import UserError
from processor.kafka.clients import reading_consumer
from processor.kafka.reading import read_to_end
from processor.rules import RulesDocument, document_to_parts, load_rules
from processor.settings import Settings

pytestmark = pytest.mark.integration

CHANGED = RULES.replace("price: 30", "price: 99")


def refused(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "lead_router_config_records_refused_total", {"reason": reason}
    )
    return value or 0.0


def write(settings: Settings, records: list[tuple[bytes, bytes | None]]) -> None:
    """Writes records to the config topic as a careless operator or another tool would."""
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for key, value in records:
        producer.produce(settings.topics.config_topic, key=key, value=value)
    assert producer.flush(30) == 0


def cli(
    settings: Settings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``lead-router rules ...`` as a separate process, with the settings in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "processor", "rules", *args],
        env=settings_env(settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def routed(settings: Settings, prefix: str, count: int = 40) -> list[dict[str, Any]]:
    """Publishes ``count`` leads and returns their audit decisions once all are there."""
    sample = leads(count, prefix)
    with reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit:
        publish(settings, sample)
        ids = {lead["lead_id"] for lead in sample}
        deadline = time.monotonic() + DEADLINE_S
        while not ids <= {d["lead_id"] for d in audit.records}:
            assert time.monotonic() < deadline, f"{prefix}: not every lead was decided"
            audit.read_for(0.5)
        return [d for d in audit.records if d["lead_id"] in ids]


def parts_in_force(settings: Settings) -> dict[str, Any]:
    """The parts of the document in force, as ``rules status`` and ``rules apply`` judge it."""
    document = read_config(settings).document
    assert document is not None, "no rules version in force"
    return document_to_parts(document)


def create_config_topic(settings: Settings, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    topic = NewTopic(
        settings.topics.config_topic,
        num_partitions=1,
        replication_factor=-1,
        config={"cleanup.policy": "compact", **config},
    )
    admin.create_topics([topic])[settings.topics.config_topic].result(60)


POISON: list[tuple[bytes, bytes | None]] = [
    (b"profile/dealer", b"[" * 100_000),
    (VERSION_KEY.encode(), b"[" * 100_000),
    (b"profile/market", b'{"name": "' + b"x" * 300_000 + b'"}'),
    (b"partner/bdc", b"\xff\xfe\x00 not json"),
    (b"fields", b"[1, 2, 3]"),
    (VERSION_KEY.encode(), b'"2"'),
    (b"another-tool/offsets", b'{"position": 42}'),
    (b"\xc3\x28", None),
]


def test_poison_on_the_config_topic_stops_nothing(stream_settings: Settings) -> None:
    settings = stream_settings.with_changes(config_record_max_bytes=200_000)
    good = apply_rules(settings, RULES)
    before = {reason: refused(reason) for reason in ("too-deep", "too-large", "foreign-key")}
    with running(settings) as app:
        first = routed(settings, "before")
        write(settings, POISON)
        second = routed(settings, "during")
        assert app.rules_version == good
        # `rules apply`, the documented way out, works over the poison.
        applied = cli(settings, "apply", "-", "--expect-version", good, stdin=CHANGED)
        assert applied.returncode == 0, applied.stderr
        deadline = time.monotonic() + DEADLINE_S
        while app.rules_version == good:
            assert time.monotonic() < deadline, "the new version never came in force"
            time.sleep(0.1)
        fixed = app.rules_version
    assert {d["rules_version"] for d in first + second} == {good}
    assert Counter(summary(d)[0] for d in first) == Counter(summary(d)[0] for d in second)
    assert refused("too-deep") >= before["too-deep"] + 2
    assert refused("too-large") >= before["too-large"] + 1
    assert refused("foreign-key") >= before["foreign-key"] + 2

    # A processor started on the poisoned topic starts, with the version applied over it.
    with running(settings) as app:
        after = routed(settings, "after")
        assert app.rules_version == fixed
    assert {d["rules_version"] for d in after} == {fixed}

    status = cli(settings, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["in_force"]["version"] == fixed
    assert {r["reason"] for r in shown["refused"]} >= {
        "too-deep",
        "too-large",
        "not-json",
        "not-object",
        "foreign-key",
    }
    assert b"x" * 100 not in status.stdout.encode()


def test_a_version_that_does_not_match_its_parts_changes_nothing(
    stream_settings: Settings,
) -> None:
    good = apply_rules(stream_settings, RULES)
    with running(stream_settings) as app:
        first = routed(stream_settings, "before")
        # Every profile deleted under a version record whose digest names other parts.
        bogus = {"version": "2", "digest": "0" * 64, "parts": 8, "applied_at": ""}
        write(
            stream_settings,
            [
                (b"profile/dealer", None),
                (b"profile/market", None),
                (VERSION_KEY.encode(), json.dumps(bogus).encode()),
            ],
        )
        second = routed(stream_settings, "during")
        assert app.rules_version == good
    assert {d["rules_version"] for d in first + second} == {good}
    assert Counter(summary(d)[0] for d in second) == Counter(summary(d)[0] for d in first)

    status = cli(stream_settings, "status")
    assert status.returncode == 0, status.stderr
    assert f"version {good} in force" in status.stdout
    assert "mismatch" in status.stdout

    # The next apply restores the deleted parts under a version that matches them.
    state = read_config(stream_settings)
    assert (state.version, state.highest) == (good, 2), [str(r) for r in state.refused]
    assert apply_rules(stream_settings, RULES) == "3"
    assert parts_in_force(stream_settings) == document_to_parts(load_rules(RULES))


def compacted(settings: Settings, key: bytes) -> bool:
    """True when the config topic holds at most one record of ``key``: the cleaner ran on it."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "compaction-check"}
    )
    partition = TopicPartition(settings.topics.config_topic, 0, OFFSET_BEGINNING)
    end = consumer.get_watermark_offsets(partition, timeout=30, cached=False)[1]
    consumer.assign([partition])
    deadline = time.monotonic() + DEADLINE_S
    records = 0
    try:
        while consumer.position([partition])[0].offset < end:
            assert time.monotonic() < deadline, "the config topic could not be read to its end"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.key() == key:
                records += 1
        return records <= 1
    finally:
        consumer.close()


def create_compacting_config_topic(settings: Settings) -> None:
    """A config topic whose log cleaner runs within a second of a record's segment rolling."""
    create_config_topic(
        settings,
        **{
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100",
            "min.compaction.lag.ms": "0",
        },
    )


def wait_compacted(settings: Settings, key: bytes) -> None:
    """Waits until the cleaner has left at most one record of ``key`` on the config topic."""
    deadline = time.monotonic() + DEADLINE_S
    while not compacted(settings, key):
        assert time.monotonic() < deadline, "the log cleaner never compacted the config topic"
        # A record more rolls the segment (segment.ms), so the cleaner can take the one before.
        write(settings, [(b"another-tool/tick", b"{}")])
        time.sleep(0.5)


STRAYS: dict[str, tuple[bytes, bytes | None]] = {
    "tombstone": (b"profile/dealer", None),
    "rewritten part": (
        b"profile/dealer",
        json.dumps({"id": "dealer", "sources": ["dealer-web"], "assignments": []}).encode(),
    ),
    "version without its parts": (
        VERSION_KEY.encode(),
        json.dumps({"version": "2", "digest": "0" * 64, "parts": 3, "applied_at": ""}).encode(),
    ),
}


@pytest.mark.parametrize("stray", list(STRAYS))
def test_a_stray_record_then_compaction_then_a_restart_keeps_the_exact_rules(
    stream_settings: Settings, tmp_path: Path, stray: str
) -> None:
    create_compacting_config_topic(stream_settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    good = apply_rules(stream_settings, rules)
    key, value = STRAYS[stray]
    write(stream_settings, [(key, value)])  # by hand, without a version (or without parts)
    wait_compacted(stream_settings, key)

    sample = leads(60, "restart")
    offline = start_dry_run(rules, sample, tmp_path)  # decides while the processor does
    with reading(stream_settings, stream_settings.topics.audit_topic, "RoutingDecision") as audit:
        publish(stream_settings, sample)
        with running(stream_settings) as app:
            audit.wait_for(len(sample))
            assert app.rules_version == good
        decisions = audit.drain()
    expected = {d["lead_id"]: d for d in offline()}
    for decision in decisions:
        assert decision["rules_version"] == good
        assert summary(decision) == summary(expected[decision["lead_id"]])
    assert parts_in_force(stream_settings) == document_to_parts(load_rules(RULES))


def race(settings: Settings, documents: dict[str, RulesDocument], expect: str) -> dict[str, Any]:
    """Applies each document from a thread of its own, all at once, each expecting ``expect``:
    what each apply returned (its version) or raised."""
    start = threading.Barrier(len(documents))
    outcomes: dict[str, Any] = {}

    def apply(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = publish_rules(settings, documents[name], expect_version=expect).version
        except UserError as error:
            outcomes[name] = error

    threads = [threading.Thread(target=apply, args=(name,)) for name in documents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    return outcomes


def test_two_applies_racing_one_wins_and_the_topic_holds_its_document(
    stream_settings: Settings,
) -> None:
    version = apply_rules(stream_settings, RULES)
    for attempt in range(3):
        documents = {
            name: load_rules(RULES.replace("price: 30", f"price: {price + attempt}"))
            for name, price in (("a", 41), ("b", 57))
        }
        outcomes = race(stream_settings, documents, version)
        winners = [name for name, outcome in outcomes.items() if isinstance(outcome, str)]
        losers = [outcome for outcome in outcomes.values() if not isinstance(outcome, str)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert isinstance(losers[0], VersionConflict), losers[0]
        state = read_config(stream_settings)
        assert state.version == outcomes[winners[0]] == str(int(version) + 1)
        assert state.document is not None
        assert document_to_parts(state.document) == document_to_parts(documents[winners[0]])
        version = outcomes[winners[0]]

    stale = cli(stream_settings, "apply", "-", "--expect-version", "1", stdin=RULES)
    assert stale.returncode == 7, stale.stderr
    assert f"version {version} is in force" in stale.stderr
    assert "Traceback" not in stale.stderr
    assert read_config(stream_settings).version == version


def test_a_part_too_large_for_the_broker_is_a_clear_error(stream_settings: Settings) -> None:
    create_config_topic(stream_settings, **{"max.message.bytes": "50000"})
    good = apply_rules(stream_settings, RULES)
    # Random, so that no compression brings it under the limit; in strings the rules limits take.
    hooks = ", ".join(
        f'"https://bdc.example.com/{secrets.token_urlsafe(6_000)}"' for _ in range(12)
    )
    big = RULES.replace(
        'destinations: ["https://bdc.example.com/hook"]', f"destinations: [{hooks}]"
    )
    assert big != RULES
    done = cli(stream_settings, "apply", "-", stdin=big)
    assert done.returncode == 1, done.stderr
    assert "partner/bdc" in done.stderr and "bytes" in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing was written, and no transaction stays open: the next apply goes through at once.
    assert read_config(stream_settings, timeout=10).version == good
    assert apply_rules(stream_settings, CHANGED) == str(int(good) + 1)


def test_many_mismatched_version_records_read_the_history_once(
    stream_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each version record whose parts do not match sends a reader to the history; a config topic
    full of them must not make it read the whole history again for each (a stall, then a crash
    loop of the watchdog), only what was written since its last look."""
    good = apply_rules(stream_settings, RULES)
    bogus = 300
    write(
        stream_settings,
        [
            (
                VERSION_KEY.encode(),
                json.dumps(
                    {"version": str(n), "digest": "0" * 64, "parts": 8, "applied_at": ""}
                ).encode(),
            )
            for n in range(2, 2 + bogus)
        ],
    )
    read: list[int] = []
    scan = history_module.read_partitions

    def counted(consumer: Any, topic: str, starts: Any, on_message: Any, **kw: Any) -> None:
        def each(message: Any) -> None:
            read.append(message.offset())
            on_message(message)

        scan(consumer, topic, starts, each, **kw)

    monkeypatch.setattr(history_module, "read_partitions", counted)
    state = read_config(stream_settings)
    assert state.version == good
    assert sum(1 for r in state.refused if r.reason == "mismatch") == bogus
    assert read == [0]  # the history's one record, read into the index once


def test_a_version_number_wound_back_by_hand_is_never_used_twice(
    stream_settings: Settings,
) -> None:
    """After compaction the config topic keeps one version record, and whoever can write to the
    topic can make it one with a lower number whose digest matches the parts: the next apply must
    still take a number no version in the history has."""
    create_compacting_config_topic(stream_settings)
    assert apply_rules(stream_settings, RULES) == "1"
    assert apply_rules(stream_settings, CHANGED) == "2"
    parts = document_to_parts(load_rules(CHANGED))
    wound_back = {"version": "1", "digest": digest_of(parts), "parts": len(parts), "applied_at": ""}
    write(stream_settings, [(VERSION_KEY.encode(), json.dumps(wound_back).encode())])
    wait_compacted(stream_settings, VERSION_KEY.encode())
    assert read_config(stream_settings).highest == 1  # all the topic still says

    assert apply_rules(stream_settings, RULES) == "3"
    numbers = Counter(history_versions(stream_settings))
    assert numbers == {"1": 1, "2": 1, "3": 1}


def history_versions(settings: Settings) -> list[str]:
    """The version numbers of the config history's records, in order."""
    found: list[str] = []
    consumer = reading_consumer(settings.kafka, "history-check")
    try:
        read_to_end(
            consumer,
            settings.topics.config_history_topic,
            lambda message: found.append((message.key() or b"").decode()),
        )
    finally:
        consumer.close()
    return found
