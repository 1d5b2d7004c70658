"""Crashes on a real broker: SIGKILL mid-transaction, rebalances, a broker restart.

Each test ends with the same proof: read_committed readers see every input lead exactly once in the
audit topic, each partner topic holds exactly the deliveries dry-run decides, once each, and every
decision equals dry-run's for the leads in the order of the decide topic, which shows that the
rotation state (round_robin, weighted) went on from where the committed work left it, whichever
input partition and processor each lead went through.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crashkit import (
    SESSION_TIMEOUT_MS,
    assert_exactly_once_as_dry_run,
    committed_decisions,
    processes,
    sigkill,
    sigterm,
    trickling,
    wait_audit,
)
from samples import WEIGHTED_RULES, WEIGHTED_SITES, leads
from streamkit import (
    TopicReader,
    apply_rules,
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


TRANSACTION_TIMEOUT_MS = 10000
"""How long the open transaction of a processor killed for good holds back its partitions."""


@pytest.fixture
def settings(stream_settings: Settings) -> Settings:
    """The test's own topics and group, with a session timeout short enough to restart quickly."""
    return stream_settings.with_changes(session_timeout_ms=SESSION_TIMEOUT_MS)


def test_sigkill_at_random_points_then_restart_routes_each_lead_once(
    settings: Settings, tmp_path: Path
) -> None:
    """A crash can land anywhere in a transaction; each restart (same transactional id) must abort
    what the killed run left open and go on from the committed offsets and rotation state."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(1500, sites=WEIGHTED_SITES)
    publish(settings, sample)
    rng = random.Random(SEED)
    # Each run is killed once it has committed this many more decisions than were seen before it
    # started: at most 1,200 in all, so the last run still has work left.
    steps = [rng.randrange(50, 300) for _ in range(rng.choice((3, 4)))]
    context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED), kills {steps} audit records apart"
    log = tmp_path / "processor.log"

    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        for step in steps:
            process = start_process(settings, log)
            started.append(process)
            wait_audit(audit, len(audit.records) + step, process, log)
            sigkill(process)
            assert committed_decisions(settings) < len(sample), (
                f"{context}: everything was committed before a kill"
            )
        last = start_process(settings, log)
        started.append(last)
        wait_audit(audit, len(sample), last, log)
        sigterm(last, log)
        decisions = audit.drain()

    assert_exactly_once_as_dry_run(settings, rules, sample, decisions, tmp_path, context)


def assigned(log: Path, topic: str) -> list[list[int]]:
    """The partitions of ``topic`` the processor logging to ``log`` was assigned, one list per
    rebalance."""
    pattern = rf"assigned partitions \[([\d, ]*)\] of {re.escape(topic)}\b"
    found = re.findall(pattern, log.read_text())
    return [[int(p) for p in x.split(",") if p.strip()] for x in found]


def shared(log: Path, settings: Settings) -> bool:
    """Whether the processor logging to ``log`` holds some input partitions, not all four."""
    shares = assigned(log, settings.topics.input_topic)
    return bool(shares) and 0 < len(shares[-1]) < 4


@pytest.mark.parametrize("comes_back", [True, False], ids=["restarted", "gone"])
def test_two_processors_rebalance_and_one_is_killed_each_lead_once(
    settings: Settings, tmp_path: Path, comes_back: bool
) -> None:
    """Partitions move between processors: when one joins (the open transaction is committed on
    revoke), and when one is killed mid-stream and either restarted or never seen again (its
    partitions, and the decide partition with its state when it held it, then go to the other
    once its session and its open transaction have timed out)."""
    settings = settings.with_changes(
        topic_partitions=3, transaction_timeout_ms=TRANSACTION_TIMEOUT_MS
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(1800, sites=WEIGHTED_SITES)
    publish(settings, sample[:300])
    rng = random.Random(SEED)
    steps = [rng.randrange(50, 200) for _ in range(2)]
    victim = rng.choice("ab")
    context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED): steps {steps}, {victim} killed"
    instances = {
        name: settings.with_changes(transactional_id=f"{settings.kafka.transactional_id}-{name}")
        for name in "ab"
    }
    logs = {name: tmp_path / f"processor-{name}.log" for name in "ab"}
    live: dict[str, subprocess.Popen[bytes]] = {}

    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
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
        # The rest arrives over about seven seconds: b joins and one of the two dies meanwhile.
        with trickling(lambda chunk: publish(settings, list(chunk)), sample[300:], per_second=200):
            start("b")  # the group rebalances while a routes
            deadline = time.monotonic() + 60
            while not any(assigned(logs["b"], settings.topics.input_topic)):
                assert time.monotonic() < deadline, f"{context}: b never got a partition"
                time.sleep(0.1)
            advance(len(audit.records) + steps[1])
            sigkill(live[victim])
            done = committed_decisions(settings)
            assert done < len(sample), f"{context}: all done before the kill"
            if comes_back:
                start(victim)  # as a supervisor would, with the same transactional id
            else:
                del live[victim]
        advance(len(sample))
        for name, process in live.items():
            sigterm(process, logs[name])
        decisions = audit.drain()

    # b's first share is part of the partitions only if a, still running, gave up the rest.
    first_share = assigned(logs["b"], settings.topics.input_topic)[0]
    assert 0 < len(first_share) < 3, f"{context}: the partitions were not shared"
    assert {d["source"]["partition"] for d in decisions} == {0, 1, 2}
    assert_exactly_once_as_dry_run(settings, rules, sample, decisions, tmp_path, context)


def test_two_processors_over_four_input_partitions_decide_each_lead_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Both processors match leads, each from its share of the input partitions; one of them
    holds the decide partition and decides every lead, the other stands by: each lead gets
    exactly one decision, and rotation runs over all of them as dry-run's does over the decide
    topic's order."""
    settings = settings.with_changes(topic_partitions=4)
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(settings, rules)
    sample = leads(1000, sites=WEIGHTED_SITES)
    instances = {
        name: settings.with_changes(transactional_id=f"{settings.kafka.transactional_id}-{name}")
        for name in "ab"
    }
    logs = {name: tmp_path / f"processor-{name}.log" for name in "ab"}

    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        for name in "ab":
            started.append(start_process(instances[name], logs[name]))
        deadline = time.monotonic() + 120
        while not all(shared(logs[name], settings) for name in "ab"):
            for process, name in zip(started, "ab", strict=True):
                assert process.poll() is None, f"{name} exited: {logs[name].read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the input partitions were never shared"
            time.sleep(0.1)
        publish(settings, sample)
        for process, name in zip(started, "ab", strict=True):
            wait_audit(audit, len(sample), process, logs[name])
        for process, name in zip(started, "ab", strict=True):
            sigterm(process, logs[name])
        decisions = audit.drain()

    deciders = [n for n in "ab" if any(assigned(logs[n], settings.topics.decide_topic))]
    assert deciders, "no processor was given the decide partition"
    assert {d["source"]["partition"] for d in decisions} == {0, 1, 2, 3}
    assert_exactly_once_as_dry_run(
        settings, rules, sample, decisions, tmp_path, "two processors, four input partitions"
    )


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
        audit.read_for(1.0, until=count)
        code = started[-1].poll()
        if code == STALLED_EXIT_CODE:
            restarts += 1
            started.append(start_process(settings, log))
        else:
            assert code is None, f"exited {code}: {log.read_text()[-3000:]}"
    return restarts


@pytest.fixture(scope="module")
def restartable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    """A broker of the restart tests' own, which they stop or kill; started once for all of
    them (each test has its own topics), since a fresh broker takes seconds to format and start."""
    with EmbeddedKafka(tmp_path_factory.mktemp("kafka"), heap="512m") as broker:
        yield broker


@pytest.fixture
def broker(restartable_broker: EmbeddedKafka) -> EmbeddedKafka:
    """The restart tests' broker, running: a test that failed during its outage left it down."""
    if restartable_broker.state() is None:
        restartable_broker.start()
    return restartable_broker


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_processor_rides_out_a_broker_restart(
    settings: Settings, broker: EmbeddedKafka, tmp_path: Path, outage: str
) -> None:
    """A broker restart of a few seconds (an upgrade, a crash) is something a stream processor
    must wait out, and nothing may be lost or routed twice. librdkafka can block for good in a
    transactional call after such a restart (now and then, not every time): the processor then
    exits as stalled, and a supervisor's restart must still give exactly once."""
    own = settings.with_changes(bootstrap_servers=broker.bootstrap_servers, stall_timeout_s=30)
    rules = tmp_path / "rules.yaml"
    rules.write_text(WEIGHTED_RULES)
    apply_rules(own, rules)
    sample = leads(1500, sites=WEIGHTED_SITES)
    publish(own, sample)
    step = random.Random(SEED).randrange(150, 750)
    context = f"seed {SEED} (LEAD_ROUTER_CRASH_SEED): broker {outage} after {step}"
    log = tmp_path / "processor.log"

    with (
        reading(own, own.topics.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        process = start_process(own, log)
        started.append(process)
        wait_audit(audit, step, process, log)
        assert committed_decisions(own) < len(sample), f"{context}: all done before the outage"
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
