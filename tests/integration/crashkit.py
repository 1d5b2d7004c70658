"""What the tests that crash, stop or fence processors on a real broker share.

Processors run as separate processes (``streamkit.start_process``), so that a signal hits a whole
processor as it would in production; ``assert_exactly_once_as_dry_run`` is the proof each such test
ends with.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions
from samples import PARTNERS, summary
from streamkit import TopicReader, reading, start_dry_run

from processor.kafka import clients
from processor.settings import Settings
from processor.stream.loop import StageIds

SESSION_TIMEOUT_MS = 6000
"""The brokers' least allowed session: a restarted processor waits this long for its partitions."""


def committed_decisions(settings: Settings) -> int:
    """How many records of the decide topic the decide stage has committed, pending
    transactions aside: the leads decided for good (the match stage runs ahead of it)."""
    group = StageIds.decide(settings).group_id
    admin = clients.admin(settings.kafka)
    found = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], require_stable=False
    )
    partitions = found[group].result(timeout=30).topic_partitions or []
    return sum(
        p.offset for p in partitions if p.topic == settings.topics.decide_topic and p.offset > 0
    )


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processors started in the block; any still running at its end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(30)


def sigterm(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()[-3000:]


def sigkill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def input_positions(settings: Settings) -> dict[str, tuple[int, int]]:
    """Each input lead's (partition, offset), as the input topic holds them."""
    with reading(settings, settings.topics.input_topic, None) as reader:
        return {r["key"].decode(): (r["partition"], r["offset"]) for r in reader.drain()}


def decide_order(settings: Settings) -> list[str]:
    """The lead ids on the decide topic, in the order the decide stage read them."""
    with reading(settings, settings.topics.decide_topic, None) as reader:
        return [r["key"].decode() for r in reader.drain()]


def assert_exactly_once_as_dry_run(
    settings: Settings,
    rules: Path,
    sample: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    tmp_path: Path,
    context: str,
) -> None:
    """The audit, delivery and unroutable topics hold what dry-run decides, each exactly once.

    The match stage hands each lead to the decide topic exactly once, and the decide stage decides
    them in that topic's order with one state for all: dry-run, routing the leads in that order
    with fresh rotation state, must decide each one as the processor did."""
    by_id = {lead["lead_id"]: lead for lead in sample}
    counts = Counter(d["lead_id"] for d in decisions)
    lost = sorted(set(by_id) - set(counts))
    twice = sorted(k for k, n in counts.items() if n > 1)
    assert not lost and not twice and set(counts) == set(by_id), (
        f"{context}: {len(lost)} lost (first {lost[:5]}), {len(twice)} twice (first {twice[:5]})"
    )

    positions = input_positions(settings)
    for decision in decisions:
        source = decision["source"]
        where = (source["partition"], source["offset"])
        assert where == positions[decision["lead_id"]], f"{context}: {decision['lead_id']} source"
    in_order = decide_order(settings)
    assert sorted(in_order) == sorted(by_id), f"{context}: the decide topic holds each lead once"
    # dry-run decides while the output topics are read.
    ran = start_dry_run(rules, [by_id[k] for k in in_order], tmp_path)
    got: Counter[tuple[str, str]] = Counter()
    for partner in PARTNERS:
        with reading(
            settings, settings.topics.delivery_topic(partner), "LeadDelivery"
        ) as deliveries:
            got.update((partner, r["lead_id"]) for r in deliveries.drain())
    with reading(settings, settings.topics.unroutable_topic, "RoutingDecision") as unroutable:
        parked = Counter(d["lead_id"] for d in unroutable.drain())

    expected = {d["lead_id"]: d for d in ran()}
    wrong = [d["lead_id"] for d in decisions if summary(d) != summary(expected[d["lead_id"]])]
    assert not wrong, (
        f"{context}: {len(wrong)} decisions differ from dry-run, first {wrong[0]}: "
        f"{summary(next(d for d in decisions if d['lead_id'] == wrong[0]))} != "
        f"{summary(expected[wrong[0]])}"
    )

    wanted = Counter((x["partner"], k) for k, d in expected.items() for x in d["deliveries"])
    assert got == wanted, f"{context}: deliveries differ: {(got - wanted) + (wanted - got)}"
    assert parked == Counter(k for k, d in expected.items() if d["outcome"] == "unroutable"), (
        f"{context}: unroutable topic"
    )
    outcomes = {d["outcome"] for d in decisions}
    assert outcomes == {"routed", "fallback", "unroutable"}, outcomes
    profiles = {d["profile"] for d in decisions}
    assert {"market", "network"} <= profiles, "round_robin and weighted both ran"


def wait_audit(audit: TopicReader, count: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """``audit.wait_for(count)``, failing early with the log if the processor exits meanwhile."""
    while len(audit.records) < count:
        assert process.poll() is None, f"exited {process.returncode}: {log.read_text()[-3000:]}"
        audit.wait_for(min(count, len(audit.records) + 50))


_Item = TypeVar("_Item")


@contextmanager
def trickling(
    publish: Callable[[Sequence[_Item]], object], items: Sequence[_Item], per_second: int
) -> Iterator[None]:
    """Publishes ``items`` in a thread at about ``per_second``, as live traffic arrives, so that
    kills and rebalances happen while leads still come; the block's end waits for the last."""
    failure: list[BaseException] = []

    def target() -> None:
        chunk = max(1, per_second // 10)
        try:
            for start in range(0, len(items), chunk):
                publish(items[start : start + chunk])
                time.sleep(0.1)  # pacing only: correctness never depends on it
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target, name="publisher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(120)
    assert not failure, failure
    assert not thread.is_alive(), "publishing did not finish"
