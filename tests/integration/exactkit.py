"""What the tests of exact state share: leads placed on chosen input partitions, processors that
are killed, replaced and stopped while the leads arrive, and what the output topics then hold.

Everything here works from the product's outside: leads are published to the input topic,
``lead-router run`` processes route them, and the audit and delivery topics are read
read_committed, as a delivery worker reads them. The audit topic is made with one partition before
the processors start (an operator may make any topic ahead of them), so that its offsets give the
order in which the committed decisions were made.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from confluent_kafka import Producer
from crashkit import SESSION_TIMEOUT_MS, processes, sigkill, sigterm, trickling
from streamkit import DEADLINE_S, TopicReader, apply_rules, reading, start_process

from processor.kafka.admin import TopicAdmin, TopicSpec
from processor.settings import FIELDS, Settings
from processor.wire import Codec, lead_from_json

TRANSACTION_TIMEOUT_MS = 10000
"""How long the open transaction of a killed processor can hold back read_committed readers."""

Placed = tuple[int, dict[str, Any]]
"""A lead and the input partition it is published to."""


def exact_settings(settings: Settings, partitions: int) -> Settings:
    """The test's topics with ``partitions`` input partitions and a one-partition audit topic,
    made before any processor runs; sessions and transactions short enough for quick recovery."""
    settings = settings.with_changes(
        topic_partitions=partitions,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
    )
    topics = settings.topics
    TopicAdmin(settings).ensure(
        [TopicSpec(topics.input_topic, partitions), TopicSpec(topics.audit_topic, partitions=1)]
    )
    return settings


def renamed(settings: Settings, old: str, new: str) -> Settings:
    """The same settings with ``old`` replaced by ``new`` in every name (topics, group,
    transactional id): a second, fresh set of topics, group and state beside the first."""
    changes: dict[str, str] = {}
    for name, part in FIELDS.items():
        value = getattr(getattr(settings, part), name)
        if isinstance(value, str) and old in value:
            changes[name] = value.replace(old, new)
    return settings.with_changes(**changes)


def local_moment(zone: str, day: date, minute: int) -> str:
    """``submitted_at`` for a local wall-clock minute of ``day`` in ``zone``, in UTC."""
    local = datetime.combine(day, datetime.min.time(), ZoneInfo(zone)) + timedelta(minutes=minute)
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_day(submitted_at: str, zone: str) -> date:
    """The local day in ``zone`` of a lead's ``submitted_at``: the day its cap window counts."""
    return datetime.fromisoformat(submitted_at).astimezone(ZoneInfo(zone)).date()


class Publisher:
    """Publishes JSON-form leads as Avro to their partitions, keyed by lead id, in list order,
    through one idempotent producer."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topics.input_topic
        self._codec = Codec()
        self._producer = Producer(
            {"bootstrap.servers": settings.kafka.bootstrap_servers, "enable.idempotence": True}
        )

    def publish(self, placed: Sequence[Placed]) -> None:
        for partition, lead in placed:
            value = self._codec.encode(self._topic, "LeadSubmitted", lead_from_json(lead))
            self._producer.produce(
                self._topic, value, lead["lead_id"].encode(), partition=partition
            )
            self._producer.poll(0)
        assert self._producer.flush(60) == 0

    def close(self) -> None:
        self._producer.close()


class Fleet:
    """Named ``lead-router run`` processes of one group, each with its own transactional id; a
    process started again under its name takes that id back, as a supervisor's restart does."""

    def __init__(
        self,
        settings: Settings,
        audit: TopicReader,
        started: list[subprocess.Popen[bytes]],
        logs: Path,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._started = started
        self._logs = logs
        self.live: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self._logs / f"processor-{name}.log"

    def start(self, name: str) -> None:
        own = f"{self._settings.kafka.transactional_id}-{name}"
        process = start_process(self._settings.with_changes(transactional_id=own), self.log(name))
        self._started.append(process)
        self.live[name] = process

    def kill(self, name: str) -> None:
        sigkill(self.live.pop(name))

    def stop(self, name: str) -> None:
        sigterm(self.live.pop(name), self.log(name))

    def advance(self, count: int) -> None:
        """Reads the audit topic until it holds ``count`` decisions; fails early, with its log,
        when a processor exits meanwhile."""
        deadline = time.monotonic() + DEADLINE_S
        while len(self._audit.records) < count:
            for name, process in self.live.items():
                assert process.poll() is None, (
                    f"{name} exited {process.returncode}: {self.log(name).read_text()[-3000:]}"
                )
            assert time.monotonic() < deadline, (
                f"{len(self._audit.records)} of {count} decisions after {DEADLINE_S:.0f} s"
            )
            self._audit.read_for(0.5, until=count)


@dataclass(frozen=True)
class Routed:
    """What the output topics hold once every lead is decided: the audit records in the order
    they were committed, and each partner's deliveries (lead id: how many records)."""

    decisions: list[dict[str, Any]]
    deliveries: dict[str, Counter[str]]

    def delivered(self, partner: str) -> Counter[str]:
        return self.deliveries[partner]


def route(
    settings: Settings,
    rules: str | Path,
    placed: Sequence[Placed],
    partners: Sequence[str],
    logs: Path,
    disrupt: bool = True,
) -> Routed:
    """Routes ``placed`` while they are published, and reads back what was committed.

    With ``disrupt``, two processors run; one is SIGKILLed after about a third of the decisions
    (while leads still arrive) and started again, and the other is stopped gracefully after about
    two thirds: whichever process holds the state decisions read, one of the two takes it away,
    and it must go on from what was committed. Without, one processor routes everything."""
    apply_rules(settings, rules)
    total = len(placed)
    head = max(1, total // 10)
    with (
        reading(settings, settings.topics.audit_topic, "RoutingDecision") as audit,
        processes() as started,
    ):
        fleet = Fleet(settings, audit, started, logs)
        for name in ("a", "b") if disrupt else ("a",):
            fleet.start(name)
        with closing(Publisher(settings)) as publisher:
            publisher.publish(placed[:head])
            fleet.advance(1)  # a processor is up and routing before the rest arrives
            # The rest arrives over about ten seconds, while processes die and partitions move.
            with trickling(publisher.publish, placed[head:], per_second=max(200, total // 10)):
                if disrupt:
                    fleet.advance(total // 3)
                    fleet.kill("a")
                    fleet.start("a")
                    fleet.advance(2 * total // 3)
                    fleet.stop("b")
        fleet.advance(total)
        for name in list(fleet.live):
            fleet.stop(name)
        decisions = audit.drain()
    assert len(decisions) == total, f"{len(decisions)} decisions of {total} input records"
    deliveries: dict[str, Counter[str]] = {}
    for partner in partners:
        topic = settings.topics.delivery_topic(partner)
        with reading(settings, topic, "LeadDelivery") as reader:
            records = reader.drain()
        assert all(r["partner"] == partner for r in records), f"{topic}: another partner's record"
        deliveries[partner] = Counter(r["lead_id"] for r in records)
    return Routed(decisions, deliveries)


def verdict(decision: dict[str, Any]) -> tuple[Any, ...]:
    """What two decisions of one lead must agree on, from the processor or from dry-run."""
    return (
        decision["lead_id"],
        decision["outcome"],
        decision["profile"],
        decision["tier"],
        decision["duplicate_of"],
        tuple(
            (d["partner"], d["assignment"], d["price"], d["currency"])
            for d in decision["deliveries"]
        ),
    )


def assert_same_decisions(ours: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]) -> None:
    """Both say the same of each lead (a lead id published twice has two decisions in each)."""
    mine, other = Counter(map(verdict, ours)), Counter(map(verdict, theirs))
    wrong = sorted({v[0] for v in (mine - other) + (other - mine)})
    assert not wrong, (
        f"{len(wrong)} leads decided otherwise, first {wrong[0]}: "
        f"{[v for v in mine if v[0] == wrong[0]]} != {[v for v in other if v[0] == wrong[0]]}"
    )


def assert_delivered_as_decided(routed: Routed) -> None:
    """Each partner topic holds one record per delivery the audit topic decided, and nothing
    else: no lead delivered twice, none delivered that was not decided so."""
    wanted = Counter(
        (x["partner"], d["lead_id"]) for d in routed.decisions for x in d["deliveries"]
    )
    got = Counter(
        {
            (partner, lead): n
            for partner, leads in routed.deliveries.items()
            for lead, n in leads.items()
        }
    )
    assert got == wanted, f"deliveries differ from decisions: {(got - wanted) + (wanted - got)}"


def assert_each_lead_decided_once(routed: Routed, placed: Sequence[Placed]) -> None:
    """Every lead id has as many decisions as it was published, none lost, none made twice."""
    published = Counter(lead["lead_id"] for _, lead in placed)
    decided = Counter(d["lead_id"] for d in routed.decisions)
    assert decided == published, (
        f"lost {sorted(published - decided)[:5]}, decided twice {sorted(decided - published)[:5]}"
    )
