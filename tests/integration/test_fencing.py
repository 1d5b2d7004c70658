"""Zombie fencing on a real broker: a processor replaced while frozen never writes again.

A processor can freeze mid-transaction and wake up later (a long pause of its VM or container, a
network partition); SIGSTOP does the same to a process. Meanwhile a supervisor starts a replacement
with the same transactional id and consumer group. The replacement's ``init_transactions`` bumps
the producer epoch, which aborts the frozen transaction and fences the old producer; once the
frozen processor's session has timed out, the replacement takes its partitions and routes
everything from the committed offsets. Thawed (SIGCONT), the old processor must find itself fenced
and exit with code 5, as docs/guarantees.md promises, and the topics must hold each lead once.

The frozen transaction can end in two ways, and each case is a test:

- ``fenced``: ``TRANSACTION_TIMEOUT_MS`` is ten minutes, far longer than the freeze, so the
  transaction is still open when the replacement starts: the replacement's fence aborts it, and
  it is the fence that makes the old processor exit.
- ``timed-out``: a 5 s ``TRANSACTION_TIMEOUT_MS``; the broker aborts the frozen transaction itself
  (and bumps the epoch) before the replacement starts, which then fences the old one once more.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import OffsetSpec
from crashkit import (
    SESSION_TIMEOUT_MS,
    assert_exactly_once_as_dry_run,
    processes,
    sigterm,
    wait_audit,
)
from samples import WEIGHTED_RULES, WEIGHTED_SITES, leads
from streamkit import DEADLINE_S, apply_rules, publish, reading, start_process

from processor.app import ProcessorFailed
from processor.kafka import clients
from processor.settings import Settings

pytestmark = pytest.mark.integration

LONG_TRANSACTION_TIMEOUT_MS = 600_000
"""Ten minutes: no freeze in the test comes near it, so only the fence can end the transaction."""

SHORT_TRANSACTION_TIMEOUT_MS = 5_000
"""The broker aborts a transaction open this long (it looks every 10 s by default)."""

FENCED_EXIT_S = 60.0
"""How long a thawed, fenced processor may take to exit: a few Kafka round trips, on a loaded
machine."""


def open_transaction(settings: Settings) -> bool:
    """Whether a transaction holds audit records a read_committed reader cannot see yet: the
    topic's end offset is beyond its last stable offset."""
    admin = clients.admin(settings.kafka)
    partition = TopicPartition(settings.topics.audit_topic, 0)
    ends = {}
    for level in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
        found = admin.list_offsets({partition: OffsetSpec.latest()}, isolation_level=level)
        ends[level] = found[partition].result(timeout=30).offset
    return ends[IsolationLevel.READ_UNCOMMITTED] > ends[IsolationLevel.READ_COMMITTED]


def freeze_mid_transaction(process: subprocess.Popen[bytes], settings: Settings) -> None:
    """SIGSTOPs ``process`` at a moment its open transaction has written audit records; a stop
    between two transactions is undone and tried again."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert time.monotonic() < deadline, "never caught the processor inside a transaction"
        assert process.poll() is None, f"the processor exited with {process.returncode}"
        process.send_signal(signal.SIGSTOP)
        if open_transaction(settings):
            return
        process.send_signal(signal.SIGCONT)


def wait_until(condition: str, check: Callable[[], bool], timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {condition} after {timeout:.0f} s"
        time.sleep(0.2)


@pytest.mark.parametrize("case", ["fenced", "timed-out"])
def test_a_frozen_processor_replaced_by_another_is_fenced_and_exits_5(
    stream_settings: Settings, tmp_path: Path, case: str
) -> None:
    settings = stream_settings.with_changes(
        session_timeout_ms=SESSION_TIMEOUT_MS, stall_timeout_s=900
    )
    timeout = LONG_TRANSACTION_TIMEOUT_MS if case == "fenced" else SHORT_TRANSACTION_TIMEOUT_MS
    frozen_settings = settings.with_changes(transaction_timeout_ms=timeout)
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(1500, sites=WEIGHTED_SITES)
    publish(settings, sample)
    logs = {name: tmp_path / f"processor-{name}.log" for name in ("frozen", "replacement")}

    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        frozen = start_process(frozen_settings, logs["frozen"])
        started.append(frozen)
        wait_audit(audit, 200, frozen, logs["frozen"])
        freeze_mid_transaction(frozen, settings)
        if case == "timed-out":
            wait_until("aborted by the broker", lambda: not open_transaction(settings))

        replacement = start_process(settings, logs["replacement"])
        started.append(replacement)
        wait_audit(audit, len(sample), replacement, logs["replacement"])

        thawed = time.monotonic()
        frozen.send_signal(signal.SIGCONT)
        try:
            code: int | None = frozen.wait(FENCED_EXIT_S)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - thawed
        print(f"{case}: exited with {code} {took:.2f} s after SIGCONT")
        frozen_log = logs["frozen"].read_text()
        assert code == ProcessorFailed.exit_code, frozen_log[-3000:]
        assert "fenced" in frozen_log.lower(), frozen_log[-3000:]

        assert replacement.poll() is None, logs["replacement"].read_text()[-3000:]
        sigterm(replacement, logs["replacement"])
        decisions = audit.drain()

    assert_exactly_once_as_dry_run(settings, rules, sample, decisions, tmp_path, case)
