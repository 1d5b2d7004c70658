"""State stores restore, from the changelog on the broker, the state of the committed offset.

Right after another processor's commit, its offsets can be readable before the changelog records
of the same transaction are: the broker writes the transaction's markers partition by partition.
A restore reads on until the partition's marker carries the committed offset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from confluent_kafka.cimpl import NewTopic

from processor.errors import InvalidInput
from processor.kafka import clients
from processor.kafka.admin import COMPACTED, TopicAdmin, TopicSpec
from processor.kafka.records import OutputRecord
from processor.settings import Settings
from processor.state.changelog import KafkaChangelogReader, OnRecord
from processor.state.stores import StateStores
from processor.stream.topics import Topics

pytestmark = pytest.mark.integration


KEY = b"market"


def state(last: str) -> bytes:
    """The value a processor keeps for ``KEY``: which partner it chose last, say."""
    return last.encode()


@pytest.fixture
def settings(stream_settings: Settings) -> Settings:
    """A changelog of three partitions: the processor's has one (the decide topic's count), but
    the stores restore each partition on its own, and three show that none reads another's."""
    made = stream_settings.with_changes(topic_partitions=3)
    spec = TopicSpec(made.topics.state_topic, partitions=3, config=COMPACTED)
    TopicAdmin(made).ensure([spec])
    return made


def publish(settings: Settings, records: list[OutputRecord]) -> None:
    """Produces changelog records to their partitions in one transaction, as the processor does
    (so a restore also reads past the transaction's commit markers)."""
    producer = clients.transactional_producer(
        settings.kafka, f"{settings.kafka.transactional_id}-writer"
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for record in records:
        assert record.partition is not None
        producer.produce(
            record.topic, key=record.key, value=record.value, partition=record.partition
        )
    producer.commit_transaction(30)


def written(settings: Settings, folder: Path, states: Mapping[int, tuple[str, int]]) -> None:
    """Has a processor with its stores in ``folder`` write each partition's rotation state
    at an input offset to the changelog."""
    writer = StateStores(settings.with_changes(state_dir=folder))
    writer.assign(dict.fromkeys(states, -1001))
    for partition, (last, _) in states.items():
        writer.store(partition).set(KEY, state(last))
    publish(settings, writer.changelog({p: offset for p, (_, offset) in states.items()}))
    writer.commit()
    writer.close()


@pytest.fixture
def owner(settings: Settings, tmp_path: Path) -> Iterator[StateStores]:
    """The stores of a processor on another host, that owns the partitions now."""
    made = StateStores(settings.with_changes(state_dir=tmp_path / "owner"))
    yield made
    made.close()


def test_the_state_of_the_committed_offset_is_restored(
    settings: Settings, owner: StateStores, tmp_path: Path
) -> None:
    written(settings, tmp_path / "before", {0: ("a", 10), 1: ("b", 7)})
    owner.assign({0: 10, 1: 7, 2: -1001})  # partition 2: nothing committed yet
    assert owner.store(0).get(KEY) == state("a")
    assert owner.store(1).get(KEY) == state("b")
    assert owner.store(2).get(KEY) is None


def test_a_state_behind_the_committed_offset_is_read_again_until_it_catches_up(
    settings: Settings, tmp_path: Path
) -> None:
    written(settings, tmp_path / "before", {0: ("old", 10)})
    reads = threading.Semaphore(0)
    kafka = KafkaChangelogReader(settings)

    class Counted:
        def read(self, starts: Mapping[int, int], on_record: OnRecord) -> None:
            kafka.read(starts, on_record)
            reads.release()

    owner = StateStores(settings.with_changes(state_dir=tmp_path / "owner"), reader=Counted())
    worker = threading.Thread(target=lambda: owner.assign({0: 20}))
    worker.start()
    assert reads.acquire(timeout=30), "the restore never read the changelog"
    # The stale state was read and not taken; now the state of offset 20 becomes readable.
    written(settings, tmp_path / "before", {0: ("new", 20)})
    worker.join(30)
    assert not worker.is_alive()
    assert owner.store(0).get(KEY) == state("new")
    owner.close()


def test_nothing_committed_gives_fresh_state(
    settings: Settings, owner: StateStores, tmp_path: Path
) -> None:
    written(settings, tmp_path / "before", {0: ("a", 10)})
    owner.assign({0: -1001})
    assert owner.store(0).get(KEY) is None


@pytest.mark.parametrize(
    ("topic", "wanted", "found", "variable"),
    [
        ("decide", 1, 2, "LEAD_ROUTER_DECIDE_TOPIC"),
        ("state", 1, 3, "LEAD_ROUTER_STATE_TOPIC"),
    ],
)
def test_a_decide_or_state_topic_with_more_than_one_partition_is_refused(
    stream_settings: Settings, topic: str, wanted: int, found: int, variable: str
) -> None:
    """One decide partition is what makes the decide stage's state exact; the changelog holds the
    state of the decide partitions, one each."""
    name = getattr(stream_settings.topics, f"{topic}_topic")
    admin = clients.admin(stream_settings.kafka)
    for future in admin.create_topics([NewTopic(name, num_partitions=found)]).values():
        future.result(timeout=60)
    with pytest.raises(InvalidInput) as refused:
        Topics(stream_settings).ensure_base()
    message = str(refused.value)
    assert f"the topic {name} has {found} partitions, but it must have {wanted}" in message
    assert variable in message
