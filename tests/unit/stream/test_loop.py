"""The processor loop's failure paths, driven by fake Kafka clients: no broker needed.

The fakes keep what a broker would: the input partitions, the group's committed offsets, and the
records of committed transactions only. The stage stand-in counts each partition's leads in its
rotation state (the decide stage's state, in real stores) and writes the count into the output, so
an output routed twice, or a state not rolled back with an aborted transaction, shows as a wrong
or repeated count.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY
from statekit import FakeChangelog

from processor.kafka.errors import FatalError
from processor.kafka.records import InputRecord, OutputRecord
from processor.kafka.session import TransactionalSession
from processor.rules import Ledger
from processor.settings import Settings
from processor.state.decide import DecideState
from processor.state.stores import StateStores
from processor.stream.loop import TAKEN_AT_ONCE, Loop, consumed_topics
from processor.stream.result import Result

TOPIC = "leads"
OUT = "out"
STATE = "state"
PROFILE = "p"


def kafka_error(code: int, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "injected", **flags))


ABORTABLE = kafka_error(KafkaError._STATE, txn_requires_abort=True)
FENCED = kafka_error(KafkaError._FENCED, fatal=True)
RETRIABLE = kafka_error(KafkaError._TRANSPORT, retriable=True)


@dataclass
class Message:
    _partition: int
    _offset: int

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return f"lead-{self._partition}-{self._offset}".encode()


@dataclass
class Broker:
    """What the broker holds: input partitions (a record count each), committed state."""

    inputs: dict[int, int]
    offsets: dict[int, int] = field(default_factory=dict)
    outputs: list[OutputRecord] = field(default_factory=list)
    changelog: FakeChangelog = field(default_factory=FakeChangelog)


class FakeConsumer:
    """A group consumer alone in its group: assigned every partition at its first consume."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.assigned: list[int] = []
        self.positions: dict[int, int] = {}
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.before_consume: list[Callable[[FakeConsumer], None]] = []
        self.waits: list[float] = []
        """The timeout of each poll and consume, in order."""
        self.closed = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        assert topics == [TOPIC]
        self.callbacks = callbacks

    def assign_all(self) -> None:
        self.assigned = sorted(self.broker.inputs)
        self.callbacks["on_assign"](self, [TopicPartition(TOPIC, p) for p in self.assigned])
        for p in self.assigned:
            self.positions[p] = max(self.broker.offsets.get(p, 0), 0)

    def take_away(self, callback: str) -> list[int]:
        """A rebalance that revokes (or loses) every partition."""
        gone = list(self.assigned)  # still assigned while the callback runs, as in librdkafka
        self.callbacks[callback](self, [TopicPartition(TOPIC, p) for p in gone])
        self.assigned = []
        return gone

    def poll(self, timeout: float) -> Message | None:
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        """The records there are, at once: what has arrived is all that will have."""
        if num_messages < 1:  # as confluent-kafka refuses it
            raise ValueError("num_messages must be between 1 and 1000000 (1M)")
        self.waits.append(timeout)
        hooks, self.before_consume = self.before_consume, []
        for hook in hooks:  # a hook that waits for its moment puts itself back for the next
            hook(self)
        if not self.assigned:
            self.assign_all()
        batch: list[Message] = []
        for p in self.assigned:
            while self.positions[p] < self.broker.inputs[p] and len(batch) < num_messages:
                batch.append(Message(p, self.positions[p]))
                self.positions[p] += 1
        return batch

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p) for p in self.assigned]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, t.partition, self.positions[t.partition]) for t in partitions]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        offsets = self.broker.offsets
        return [
            TopicPartition(TOPIC, t.partition, offsets.get(t.partition, -1001)) for t in partitions
        ]

    def seek(self, partition: TopicPartition) -> None:
        self.positions[partition.partition] = max(partition.offset, 0)

    def consumer_group_metadata(self) -> object:
        return "group"

    def get_watermark_offsets(self, partition: TopicPartition, cached: bool) -> tuple[int, int]:
        return 0, self.broker.inputs[partition.partition]

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """A transactional producer whose calls can be made to fail, once per queued error."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.failures: dict[str, list[KafkaException]] = {}
        self.pending: list[OutputRecord] = []
        self.pending_offsets: list[TopicPartition] = []
        self.calls: list[str] = []
        self.transactions: list[int] = []
        """The output records of each committed transaction, in order."""
        self.flushed = False
        self.closed = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        queued = self.failures.get(name)
        if queued:
            raise queued.pop(0)

    def init_transactions(self, timeout: float) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")
        self.pending, self.pending_offsets = [], []

    def produce(self, topic: str, value: Any = None, key: Any = None, **rest: Any) -> None:
        self._call("produce")
        partition = rest.get("partition", -1)
        headers = rest.get("headers")
        self.pending.append(OutputRecord(topic, key, value, headers, partition=partition))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushed = True
        return 0

    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float
    ) -> None:
        self._call("send_offsets_to_transaction")
        self.pending_offsets = positions

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")
        outputs = [r for r in self.pending if r.topic == OUT]
        self.transactions.append(len(outputs))
        self.broker.outputs += outputs
        self.broker.changelog.publish([r for r in self.pending if r.topic == STATE])
        self.broker.offsets.update({t.partition: t.offset for t in self.pending_offsets})

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")
        self.pending, self.pending_offsets = [], []

    def close(self) -> None:
        self.closed = True

    def aborts(self) -> int:
        return self.calls.count("abort_transaction")


class RecordingState(DecideState):
    """The decide stage's state in the real stores (RocksDB in a temporary folder), telling which
    partitions the loop revoked."""

    def __init__(self, folder: Path, changelog: FakeChangelog) -> None:
        super().__init__(StateStores(settings_in(folder), changelog), 86_400)
        self.revoked: list[int] = []

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = list(partitions)
        self.revoked += gone
        super().revoke(gone)


def settings_in(folder: Path, **changes: Any) -> Settings:
    return Settings(
        input_topic=TOPIC,
        state_topic=STATE,
        state_dir=folder,
        transactional_id="loop-test",
        **({"commit_interval_ms": 1} | changes),
    )


class CountingStage:
    """Routes lead n of a partition as "<partition>:<offset>#n", n kept in the partition's
    ledger (its round robin tick)."""

    topic = TOPIC

    def __init__(self, state: DecideState) -> None:
        self._state = state

    def process(self, message: Message) -> Result:
        ledger = self._state.of(message.partition())
        turn = max(ledger.round_robin(PROFILE).values(), default=0) + 1
        ledger.chose(PROFILE, str(turn))
        value = f"{message.partition()}:{message.offset()}#{turn}".encode()
        return Result("routed", PROFILE, [OutputRecord(OUT, b"k", value)])


@dataclass
class Clock:
    """The loop's clock, moved on by the test."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    broker: Broker
    consumer: FakeConsumer
    producer: FakeProducer
    state: RecordingState
    loop: Loop
    folder: Path
    clock: Clock

    def run(self) -> None:
        """Runs until every input record is consumed and committed."""
        self.loop.run(on_idle=self._stop_when_done)

    def _stop_when_done(self) -> None:
        if self.broker.offsets == self.broker.inputs:
            self.loop.stop()

    def routed(self) -> list[str]:
        return [(r.value or b"").decode() for r in self.broker.outputs]


def harness(folder: Path, inputs: dict[int, int], **settings: Any) -> Harness:
    broker = Broker(inputs)
    consumer = FakeConsumer(broker)
    producer = FakeProducer(broker)
    state = RecordingState(folder / "processor", broker.changelog)
    clock = Clock()
    loop = Loop(
        settings_in(folder, **settings),
        CountingStage(state),  # type: ignore[arg-type]
        poll_rules=lambda: None,
        consumer=consumer,
        session=TransactionalSession(producer),
        state=state,
        clock=clock,
    )
    return Harness(broker, consumer, producer, state, loop, folder, clock)


def expected(inputs: dict[int, int]) -> list[str]:
    return sorted(f"{p}:{o}#{o + 1}" for p, n in inputs.items() for o in range(n))


def restored_turn(h: Harness, partition: int) -> str | None:
    """The rotation state another processor restores from the changelog at the committed offset."""
    elsewhere = StateStores(settings_in(h.folder / "elsewhere"), h.broker.changelog)
    try:
        elsewhere.assign({partition: h.broker.offsets[partition]})
        ticks = Ledger(elsewhere.store(partition)).round_robin(PROFILE).values()
        return str(max(ticks)) if ticks else None
    finally:
        elsewhere.close()


def test_a_batch_commits_its_outputs_offsets_and_state_together(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 3, 1: 2})
    h.run()
    assert sorted(h.routed()) == expected({0: 3, 1: 2})
    assert h.broker.offsets == {0: 3, 1: 2}
    assert restored_turn(h, 0) == "3" and restored_turn(h, 1) == "2"
    assert h.producer.aborts() == 0
    assert h.consumer.closed and h.producer.closed and h.producer.flushed


def arriving(h: Harness, per_poll: int, polls: int, tick: float = 0.0) -> None:
    """Records arriving on partition 0 while the loop runs: ``per_poll`` more before each of its
    next ``polls`` polls, the clock moved on by ``tick`` seconds each time."""
    left = [polls]

    def arrive(consumer: FakeConsumer) -> None:
        if left[0] > 0:
            left[0] -= 1
            h.broker.inputs[0] += per_poll
            h.clock.now += tick
            consumer.before_consume.append(arrive)

    h.consumer.before_consume.append(arrive)


def test_a_stage_that_has_caught_up_commits_at_once_not_after_the_interval(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {0: 3, 1: 2}, commit_interval_ms=3_600_000)
    committed: list[dict[int, int]] = []  # the group's offsets at each poll

    def watch(consumer: FakeConsumer) -> None:
        committed.append(dict(h.broker.offsets))
        if len(committed) < 5:
            consumer.before_consume.append(watch)
        else:
            h.loop.stop()

    h.consumer.before_consume.append(watch)
    h.loop.run()
    assert committed[-1] == {0: 3, 1: 2}  # committed while running, not on the way out
    assert h.producer.transactions == [5]  # everything that was ready, in one transaction
    # Waited only for the first record; with a transaction open, never.
    assert h.consumer.waits[:3] == [3600.0, 0, 0]


def test_under_load_a_transaction_grows_to_the_batch_size(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 0}, batch_size=8, commit_interval_ms=3_600_000)
    arriving(h, per_poll=2, polls=10)
    h.run()
    # Records came at every poll until the 20th: only the last transaction found the stage
    # caught up before it was full.
    assert h.producer.transactions == [8, 8, 4]
    assert sorted(h.routed()) == expected({0: 20})


def test_under_load_the_commit_interval_bounds_a_transaction(tmp_path: Path) -> None:
    # A record and 100 ms between polls: the stage never catches up, nor fills a batch.
    h = harness(tmp_path, {0: 0}, commit_interval_ms=250)
    arriving(h, per_poll=1, polls=30, tick=0.1)
    h.run()
    # Open at the second record's poll, committed at the first poll 250 ms after.
    assert h.producer.transactions == [5] * 6
    assert sorted(h.routed()) == expected({0: 30})


def test_the_commit_interval_bounds_a_transaction_over_a_backlog(tmp_path: Path) -> None:
    # The consumer holds ten takes at once; 100 ms pass between polls.
    h = harness(tmp_path, {0: 10 * TAKEN_AT_ONCE}, commit_interval_ms=250)
    arriving(h, per_poll=0, polls=100, tick=0.1)
    h.run()
    assert h.producer.transactions == [4 * TAKEN_AT_ONCE, 4 * TAKEN_AT_ONCE, 2 * TAKEN_AT_ONCE]
    assert sorted(h.routed()) == expected({0: 10 * TAKEN_AT_ONCE})


def test_a_batch_of_one_commits_each_record_alone(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 3}, batch_size=1)
    h.run()
    assert h.producer.transactions == [1, 1, 1]
    assert sorted(h.routed()) == expected({0: 3})


def test_an_abortable_commit_error_aborts_rewinds_and_routes_the_batch_again_once(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {0: 4})
    h.producer.failures["commit_transaction"] = [ABORTABLE]
    h.run()
    assert h.producer.aborts() == 1
    # Routed again from the committed offset with the committed rotation state: turns 1..4 once.
    assert sorted(h.routed()) == expected({0: 4})
    assert restored_turn(h, 0) == "4"


def commits_timed() -> float:
    return REGISTRY.get_sample_value("lead_router_commit_seconds_count", {"stage": "stage"}) or 0.0


def test_each_committed_transaction_is_timed_and_an_aborted_one_is_not(tmp_path: Path) -> None:
    before = commits_timed()
    h = harness(tmp_path, {0: 3}, batch_size=1)
    h.producer.failures["commit_transaction"] = [ABORTABLE]
    h.run()
    assert h.producer.aborts() == 1
    assert commits_timed() - before == 3


def test_a_produce_that_failed_in_the_background_is_aborted_too(tmp_path: Path) -> None:
    """A plain _STATE error from produce, with a transaction open, means it failed meanwhile."""
    h = harness(tmp_path, {0: 2}, batch_size=2)
    h.producer.failures["produce"] = [kafka_error(KafkaError._STATE)]
    h.run()
    assert h.producer.aborts() == 1
    assert sorted(h.routed()) == expected({0: 2})


def test_state_changed_by_an_aborted_transaction_is_rolled_back(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 2, 1: 1})
    h.producer.failures["send_offsets_to_transaction"] = [ABORTABLE]
    h.run()
    assert h.producer.aborts() == 1
    assert restored_turn(h, 0) == "2" and restored_turn(h, 1) == "1"
    # The changelog holds the committed states only: the aborted ones never reached it.
    key = b"rr\x1f" + PROFILE.encode()
    written = [
        r.value() for p in (0, 1) for r in h.broker.changelog.partitions[p] if r.key() == key
    ]
    assert sorted(json.loads(value or b"")["tick"] for value in written) == [1, 2]


def test_a_retriable_error_is_retried_without_an_abort(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 2})
    h.producer.failures["send_offsets_to_transaction"] = [RETRIABLE, RETRIABLE]
    h.run()
    assert h.producer.aborts() == 0
    assert h.producer.calls.count("send_offsets_to_transaction") == 3
    assert sorted(h.routed()) == expected({0: 2})


def test_a_fatal_error_ends_the_loop_and_closes_the_producer_without_a_flush(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {0: 2})
    h.producer.failures["produce"] = [FENCED]
    with pytest.raises(FatalError, match="injected"):
        h.run()
    assert h.broker.outputs == [] and h.broker.offsets == {}
    assert h.producer.closed and not h.producer.flushed
    assert h.consumer.closed
    assert h.producer.aborts() == 0  # a fenced producer cannot abort: the broker does


def test_a_fatal_commit_error_ends_the_loop(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 1})
    h.producer.failures["commit_transaction"] = [FENCED]
    with pytest.raises(FatalError):
        h.run()
    assert h.broker.outputs == [] and not h.producer.flushed


def test_revoking_partitions_commits_the_open_transaction_first(tmp_path: Path) -> None:
    # Neither the batch size nor the interval is reached, and the revocation comes at the poll
    # that would find the stage caught up: only it commits.
    h = harness(tmp_path, {0: 3}, batch_size=1000, commit_interval_ms=3_600_000)
    revoked: list[int] = []

    def revoke_once_consumed(consumer: FakeConsumer) -> None:
        if consumer.positions.get(0) == 3:
            revoked.extend(consumer.take_away("on_revoke"))
            h.loop.stop()
        else:
            consumer.before_consume.append(revoke_once_consumed)

    h.consumer.before_consume.append(revoke_once_consumed)
    h.loop.run()
    assert revoked == [0]
    assert sorted(h.routed()) == expected({0: 3})
    assert h.broker.offsets == {0: 3}
    assert h.state.revoked == [0]


def test_losing_partitions_aborts_the_open_transaction_and_the_next_owner_routes_it_once(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, {0: 3}, batch_size=1000, commit_interval_ms=3_600_000)

    def lose_once_consumed(consumer: FakeConsumer) -> None:
        if consumer.positions.get(0) == 3:
            consumer.take_away("on_lost")
            h.loop.stop()  # it takes the partition again, routes it, and commits on the way out
        else:
            consumer.before_consume.append(lose_once_consumed)

    h.consumer.before_consume.append(lose_once_consumed)
    h.loop.run()
    assert h.producer.aborts() == 1
    assert sorted(h.routed()) == expected({0: 3})
    assert h.state.revoked == [0]


def test_an_abort_refused_as_fenced_after_losing_partitions_ends_the_loop(tmp_path: Path) -> None:
    h = harness(tmp_path, {0: 2}, batch_size=1000, commit_interval_ms=3_600_000)
    h.producer.failures["abort_transaction"] = [FENCED]

    def lose_once_consumed(consumer: FakeConsumer) -> None:
        if consumer.positions.get(0) == 2:
            consumer.take_away("on_lost")
        else:
            consumer.before_consume.append(lose_once_consumed)

    h.consumer.before_consume.append(lose_once_consumed)
    with pytest.raises(FatalError):
        h.run()
    assert h.broker.outputs == [] and not h.producer.flushed and h.producer.closed


class ReadingTwoTopics:
    """A stage that reads leads and returns, as the match stage does."""

    topic = TOPIC
    topics = (TOPIC, "returns")

    def process(self, message: InputRecord) -> Result:
        return Result(None, None, [])


def test_a_stage_is_subscribed_to_each_of_its_topics_or_else_to_its_one() -> None:
    assert consumed_topics(ReadingTwoTopics()) == (TOPIC, "returns")
    assert consumed_topics(CountingStage(None)) == (TOPIC,)  # type: ignore[arg-type]
