"""Crashes on a real broker: SIGKILL mid-transaction, rebalances, a broker restart.

Each test ends with the same proof: read_committed readers see every input lead exactly once in the
audit topic, each partner topic holds exactly the deliveries dry-run decides, once each, and every
decision equals dry-run's for the leads of its input partition in offset order, which shows that the
rotation state (round_robin, weighted) went on from where the committed work left it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient
from samples import PARTNERS, WEIGHTED_RULES, WEIGHTED_SITES, leads, summary
from streamkit import (
    TopicReader,
    apply_rules,
    dry_run,
    publish,
    reading,
    start_process,
)

from processor.app import STALLED_EXIT_CODE, App
from processor.geo.enrich import Enricher
from processor.localkafka import EmbeddedKafka
from processor.settings import Settings

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("LEAD_ROUTER_CRASH_SEED") or random.SystemRandom().randrange(2**32))
"""Where the kills land; set LEAD_ROUTER_CRASH_SEED to replay a failure's kill points."""


SESSION_TIMEOUT_MS = 6000
"""The brokers' least allowed session: a restarted processor waits this long for its partitions."""


TRANSACTION_TIMEOUT_MS = 10000
"""How long the open transaction of a processor killed for good holds back its partitions."""


@pytest.fixture
def settings(stream_settings: Settings) -> Settings:
    """The test's own topics and group, with a session timeout short enough to restart quickly."""
    return stream_settings.model_copy(update={"session_timeout_ms": SESSION_TIMEOUT_MS})


def committed_input(settings: Settings) -> int:
    """How many input records the group has committed, pending transactions aside."""
    admin = AdminClient(settings.kafka_client_config())
    request = [ConsumerGroupTopicPartitions(settings.group_id)]
    found = admin.list_consumer_group_offsets(request, require_stable=False)
    partitions = found[settings.group_id].result(timeout=30).topic_partitions or []
    return sum(p.offset for p in partitions if p.topic == settings.input_topic and p.offset > 0)


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
    with reading(settings, settings.input_topic, None) as reader:
        return {r["key"].decode(): (r["partition"], r["offset"]) for r in reader.drain()}


def assert_exactly_once_as_dry_run(
    settings: Settings,
    rules: Path,
    sample: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    tmp_path: Path,
    context: str,
) -> None:
    """The audit, delivery and unroutable topics hold what dry-run decides, each exactly once.

    Dry-run routes one partition's leads at a time, in offset order, with fresh rotation state:
    rotation state is per input partition, so that is what the processor must have done."""
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
    expected: dict[str, dict[str, Any]] = {}
    for partition in sorted({p for p, _ in positions.values()}):
        in_order = sorted((o, k) for k, (p, o) in positions.items() if p == partition)
        part_dir = tmp_path / f"dry-run-{partition}"
        part_dir.mkdir(exist_ok=True)
        ran = dry_run(rules, [by_id[k] for _, k in in_order], part_dir)
        expected |= {d["lead_id"]: d for d in ran}
    wrong = [d["lead_id"] for d in decisions if summary(d) != summary(expected[d["lead_id"]])]
    assert not wrong, (
        f"{context}: {len(wrong)} decisions differ from dry-run, first {wrong[0]}: "
        f"{summary(next(d for d in decisions if d['lead_id'] == wrong[0]))} != "
        f"{summary(expected[wrong[0]])}"
    )

    wanted = Counter((x["partner"], k) for k, d in expected.items() for x in d["deliveries"])
    got: Counter[tuple[str, str]] = Counter()
    for partner in PARTNERS:
        with reading(settings, settings.delivery_topic(partner), "LeadDelivery") as deliveries:
            got.update((partner, r["lead_id"]) for r in deliveries.drain())
    assert got == wanted, f"{context}: deliveries differ: {(got - wanted) + (wanted - got)}"

    with reading(settings, settings.unroutable_topic, "RoutingDecision") as unroutable:
        parked = Counter(d["lead_id"] for d in unroutable.drain())
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


def test_sigkill_at_random_points_then_restart_routes_each_lead_once(
    settings: Settings, tmp_path: Path
) -> None:
    """A crash can land anywhere in a transaction; each restart (same transactional id) must abort
    what the killed run left open and go on from the committed offsets and rotation state."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(3000, sites=WEIGHTED_SITES)
    publish(settings, sample)
    rng = random.Random(SEED)
    # Each run is killed once it has committed this many more decisions than were seen before it
    # started: at most 2,400 in all, so the last run still has work left.
    steps = [rng.randrange(100, 600) for _ in range(rng.choice((3, 4)))]
    context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED), kills {steps} audit records apart"
    log = tmp_path / "processor.log"

    with (
        reading(settings, settings.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        for step in steps:
            process = start_process(settings, log)
            started.append(process)
            wait_audit(audit, len(audit.records) + step, process, log)
            sigkill(process)
            assert committed_input(settings) < len(sample), (
                f"{context}: everything was committed before a kill"
            )
        last = start_process(settings, log)
        started.append(last)
        wait_audit(audit, len(sample), last, log)
        sigterm(last, log)
        decisions = audit.drain()

    assert_exactly_once_as_dry_run(settings, rules, sample, decisions, tmp_path, context)


def assigned(log: Path) -> list[list[int]]:
    """The partitions the processor logging to ``log`` was assigned, one list per rebalance."""
    found = re.findall(r"assigned partitions \[([\d, ]*)\]", log.read_text())
    return [[int(p) for p in x.split(",") if p.strip()] for x in found]


@contextmanager
def trickling(settings: Settings, sample: list[dict[str, Any]], per_second: int) -> Iterator[None]:
    """Publishes ``sample`` in a thread at about ``per_second``, as live traffic arrives, so the
    processors have work whenever a rebalance or a kill happens; the block's end waits for it."""
    failure: list[BaseException] = []

    def target() -> None:
        chunk = max(1, per_second // 10)
        try:
            for start in range(0, len(sample), chunk):
                publish(settings, sample[start : start + chunk])
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


@pytest.mark.parametrize("comes_back", [True, False], ids=["restarted", "gone"])
def test_two_processors_rebalance_and_one_is_killed_each_lead_once(
    settings: Settings, tmp_path: Path, comes_back: bool
) -> None:
    """Partitions move between processors with their rotation state: when one joins (the open
    transaction is committed on revoke), and when one is killed mid-stream and either restarted
    or never seen again (its partitions then go to the other once its session and its open
    transaction have timed out)."""
    settings = settings.model_copy(
        update={"topic_partitions": 3, "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS}
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(3600, sites=WEIGHTED_SITES)
    publish(settings, sample[:600])
    rng = random.Random(SEED)
    steps = [rng.randrange(100, 400) for _ in range(2)]
    victim = rng.choice("ab")
    context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED): steps {steps}, {victim} killed"
    instances = {
        name: settings.model_copy(
            update={"transactional_id": f"{settings.transactional_id}-{name}"}
        )
        for name in "ab"
    }
    logs = {name: tmp_path / f"processor-{name}.log" for name in "ab"}
    live: dict[str, subprocess.Popen[bytes]] = {}

    with (
        reading(settings, settings.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):

        def start(name: str) -> None:
            live[name] = start_process(instances[name], logs[name])
            started.append(live[name])

        def advance(target: int) -> None:
            """Reads until ``target`` decisions; fails early if a processor exits meanwhile."""
            while len(audit.records) < target:
                for name, process in live.items():
                    assert process.poll() is None, (
                        f"{context}: {name} exited: {logs[name].read_text()[-3000:]}"
                    )
                audit.wait_for(min(target, len(audit.records) + 50))

        start("a")
        advance(steps[0])
        with trickling(settings, sample[600:], per_second=400):
            start("b")  # the group rebalances while a routes
            deadline = time.monotonic() + 60
            while not any(assigned(logs["b"])):
                assert time.monotonic() < deadline, f"{context}: b never got a partition"
                time.sleep(0.1)
            advance(len(audit.records) + steps[1])
            sigkill(live[victim])
            assert committed_input(settings) < len(sample), f"{context}: all done before the kill"
            if comes_back:
                start(victim)  # as a supervisor would, with the same transactional id
            else:
                del live[victim]
        advance(len(sample))
        for name, process in live.items():
            sigterm(process, logs[name])
        decisions = audit.drain()

    # b's first share is part of the partitions only if a, still running, gave up the rest.
    assert 0 < len(assigned(logs["b"])[0]) < 3, f"{context}: the partitions were not shared"
    assert {d["source"]["partition"] for d in decisions} == {0, 1, 2}
    assert_exactly_once_as_dry_run(settings, rules, sample, decisions, tmp_path, context)


def test_stop_while_starting_up_is_not_forgotten(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM can come while the processor builds its pipeline (loading the ZIP table takes half
    a second), after it has read the rules: it must still stop, not route on until SIGKILL."""
    apply_rules(settings, WEIGHTED_RULES)
    app = App(settings)

    class StoppedMeanwhile(Enricher):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            app.stop()  # as the SIGTERM handler does
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("processor.app.Enricher", StoppedMeanwhile)
    thread = threading.Thread(target=app.run, name="processor", daemon=True)
    thread.start()
    thread.join(60)
    stuck = thread.is_alive()
    if stuck:
        app.stop()  # the fix's absence must not leave a running processor behind
        thread.join(60)
    assert not stuck, "the processor ignored a stop that came while it started up"


def supervised(
    audit: TopicReader,
    count: int,
    settings: Settings,
    started: list[subprocess.Popen[bytes]],
    log: Path,
) -> int:
    """``wait_audit`` with a supervisor's restart when the processor exits as stalled; returns
    how many restarts it took."""
    restarts = 0
    deadline = time.monotonic() + 240
    while len(audit.records) < count:
        assert time.monotonic() < deadline, f"{len(audit.records)} of {count} audit records"
        audit.read_for(1.0)
        code = started[-1].poll()
        if code == STALLED_EXIT_CODE:
            restarts += 1
            started.append(start_process(settings, log))
        else:
            assert code is None, f"exited {code}: {log.read_text()[-3000:]}"
    return restarts


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_processor_rides_out_a_broker_restart(
    settings: Settings, tmp_path: Path, outage: str
) -> None:
    """A broker restart of a few seconds (an upgrade, a crash) is something a stream processor
    must wait out, and nothing may be lost or routed twice. librdkafka can block for good in a
    transactional call after such a restart (now and then, not every time): the processor then
    exits as stalled, and a supervisor's restart must still give exactly once."""
    with EmbeddedKafka(tmp_path / "kafka", heap="512m") as broker:
        own = settings.model_copy(
            update={"bootstrap_servers": broker.bootstrap_servers, "stall_timeout_s": 30}
        )
        rules = tmp_path / "rules.yaml"
        rules.write_text(WEIGHTED_RULES)
        apply_rules(own, rules)
        sample = leads(3000, sites=WEIGHTED_SITES)
        publish(own, sample)
        step = random.Random(SEED).randrange(300, 1500)
        context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED): broker {outage} after {step}"
        log = tmp_path / "processor.log"

        with (
            reading(own, own.audit_topic, "RoutingDecision") as audit,
            processes() as started,
        ):
            process = start_process(own, log)
            started.append(process)
            wait_audit(audit, step, process, log)
            assert committed_input(own) < len(sample), f"{context}: all done before the outage"
            address = broker.bootstrap_servers
            broker.stop() if outage == "stop" else broker.kill()
            assert process.poll() is None, f"{context}: exited with the broker: {log.read_text()}"
            broker.start()
            assert broker.bootstrap_servers == address, "the broker came back elsewhere"
            restarts = supervised(audit, len(sample), own, started, log)
            sigterm(started[-1], log)
            decisions = audit.drain()

        context += f", {restarts} restarts after a stall"
        assert_exactly_once_as_dry_run(own, rules, sample, decisions, tmp_path, context)
