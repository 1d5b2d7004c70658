"""Helpers for tests of the stream processor on the real broker.

Each test, with its own topics and group (the ``stream_settings`` fixture), publishes leads as an
upstream system would, runs the processor (in a thread, or as a separate process), and reads what
it produced with a read_committed consumer, as a delivery worker would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from processor.app import App
from processor.control.publisher import publish_rules
from processor.control.topics import ensure_config_topics
from processor.rules import load_rules
from processor.settings import FIELDS, Settings
from processor.stream.topics import Topics
from processor.wire import Codec, SchemaName, lead_from_json

DEADLINE_S = 120.0


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as LEAD_ROUTER_* variables, for a processor in a separate process; no
    setting from this process's environment leaks into it."""
    ours = {f"LEAD_ROUTER_{name.upper()}" for name in FIELDS}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    return env | settings.environment()


def apply_rules(settings: Settings, rules: str | Path) -> str:
    """Publishes a rules document (text or file) as ``rules apply`` does; returns its version."""
    ensure_config_topics(settings)
    return publish_rules(settings, load_rules(rules)).version


def publish(settings: Settings, leads: Iterable[dict[str, Any] | bytes]) -> int:
    """Publishes JSON-form leads as Avro (raw bytes as they are), keyed by lead id."""
    Topics(settings).ensure_base()
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 5})
    count = 0
    for lead in leads:
        if isinstance(lead, bytes):
            producer.produce(settings.topics.input_topic, key=b"raw", value=lead)
        else:
            value = codec.encode(settings.topics.input_topic, "LeadSubmitted", lead_from_json(lead))
            producer.produce(settings.topics.input_topic, key=lead["lead_id"].encode(), value=value)
        count += 1
        producer.poll(0)
    assert producer.flush(30) == 0
    producer.close()
    return count


class TopicReader:
    """Reads a topic from the beginning, read_committed, accumulating what it has seen."""

    def __init__(self, settings: Settings, topic: str, schema: SchemaName | None) -> None:
        self.topic = topic
        self._schema = schema
        Topics(settings).ensure_base()  # a reader may start before the processor creates them
        self._codec = Codec()
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka.bootstrap_servers,
                "group.id": f"reader-{topic}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=30).topics[topic]
        self._partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        self._consumer.assign(
            [TopicPartition(topic, p.partition, OFFSET_BEGINNING) for p in self._partitions]
        )
        self.records: list[dict[str, Any]] = []

    def _take(self, timeout: float) -> bool:
        message = self._consumer.poll(timeout)
        if message is None or message.error() is not None:
            return False
        value = message.value()
        record: dict[str, Any] = {
            "key": message.key(),
            "headers": dict(message.headers() or []),
            "header_list": message.headers() or [],
            "timestamp": message.timestamp(),
            "raw": value,
            "partition": message.partition(),
            "offset": message.offset(),
        }
        if self._schema is not None and value is not None:
            record |= self._codec.decode(self.topic, value, self._schema)
        self.records.append(record)
        return True

    def wait_for(self, count: int, timeout: float = DEADLINE_S) -> list[dict[str, Any]]:
        """Reads until at least ``count`` records have been seen (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            assert time.monotonic() < deadline, (
                f"{self.topic}: {len(self.records)} of {count} records after {timeout:.0f} s"
            )
            self._take(0.5)
        return self.records

    def read_for(self, seconds: float, until: int | None = None) -> None:
        """Reads what arrives within ``seconds``; with ``until``, no longer than it takes to have
        seen that many records, so that a caller waiting for a count goes on as soon as it can."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (until is None or len(self.records) < until):
            self._take(min(0.2, max(0.0, deadline - time.monotonic())))

    def drain(self) -> list[dict[str, Any]]:
        """Reads everything committed up to the current end of the topic."""
        ends = {
            p.partition: self._consumer.get_watermark_offsets(p, timeout=30, cached=False)[1]
            for p in self._partitions
        }
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if not self._take(0.2):
                positions = self._consumer.position(self._partitions)
                if all(p.offset >= ends[p.partition] or ends[p.partition] == 0 for p in positions):
                    break
        return self.records

    def close(self) -> None:
        self._consumer.close()


@contextmanager
def reading(settings: Settings, topic: str, schema: SchemaName | None) -> Iterator[TopicReader]:
    reader = TopicReader(settings, topic, schema)
    try:
        yield reader
    finally:
        reader.close()


class Service(Protocol):
    """What runs until asked to stop: the processor's App, a delivery Worker."""

    def run(self) -> None: ...
    def stop(self) -> None: ...


@contextmanager
def in_thread(service: Service, name: str) -> Iterator[None]:
    """``service.run`` in a thread of this process; stopped (and its errors raised) on exit."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            service.run()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        service.stop()
        thread.join(60)
        if failure:  # the service's own error explains a test's failure best
            raise failure[0]
        assert not thread.is_alive(), f"{name} did not stop"


@contextmanager
def running(settings: Settings) -> Iterator[App]:
    """The processor in a thread of this process."""
    app = App(settings)
    with in_thread(app, "processor"):
        yield app


def start_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``lead-router run`` as a separate process, its output in ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "processor", "run"],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_dry_run(
    rules: Path, leads: list[dict[str, Any]], tmp_path: Path, *options: str
) -> Callable[[], list[dict[str, Any]]]:
    """Starts ``lead-router dry-run`` (with ``options``) on these leads in a process of its own;
    what it returns waits for the decisions it prints. A test reads topics in the meantime."""
    leads_file = tmp_path / "leads.jsonl"
    leads_file.write_text("".join(json.dumps(lead) + "\n" for lead in leads))
    printed, errors = tmp_path / "dry-run.jsonl", tmp_path / "dry-run.log"
    command = [sys.executable, "-m", "processor", "dry-run", "--rules", str(rules), *options]
    with open(printed, "wb") as out, open(errors, "wb") as err:
        process = subprocess.Popen([*command, str(leads_file)], stdout=out, stderr=err)

    def decisions() -> list[dict[str, Any]]:
        assert process.wait(300) == 0, errors.read_text()
        return [json.loads(line) for line in printed.read_text().splitlines()]

    return decisions


def dry_run(
    rules: Path, leads: list[dict[str, Any]], tmp_path: Path, *options: str
) -> list[dict[str, Any]]:
    """The decisions ``lead-router dry-run`` (with ``options``) prints for these leads."""
    return start_dry_run(rules, leads, tmp_path, *options)()
