"""The rotation-state changelog gives back the state that belongs to the committed offset.

Right after another processor's commit, its offsets can be readable before the state record of
the same transaction is: the broker writes the transaction's markers partition by partition.
``restore`` reads again until the state it found carries the committed offset.
"""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import Producer

from processor.kafka.records import Headers
from processor.rules import RotationState
from processor.settings import Settings
from processor.stream.rotation_log import RotationLog
from processor.stream.topics import Topics

pytestmark = pytest.mark.integration


def state(last: str) -> RotationState:
    made = RotationState()
    made.chose("market", last)
    return made


def write(settings: Settings, key: bytes, value: bytes, headers: Headers | None = None) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    producer.produce(settings.topics.state_topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0


@pytest.fixture
def changelog(stream_settings: Settings) -> RotationLog:
    Topics(stream_settings).ensure_base()
    return RotationLog(stream_settings)


def test_the_state_of_the_committed_offset_is_restored(
    stream_settings: Settings, changelog: RotationLog
) -> None:
    write(stream_settings, *changelog.record(0, state("a"), 10))
    write(stream_settings, *changelog.record(1, state("b"), 7))
    restored = changelog.restore({0: 10, 1: 7, 2: -1001})  # partition 2: nothing committed yet
    assert restored == {0: state("a"), 1: state("b"), 2: RotationState()}


def test_a_state_behind_the_committed_offset_is_read_again_until_it_catches_up(
    stream_settings: Settings, changelog: RotationLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(stream_settings, *changelog.record(0, state("old"), 10))
    reads = threading.Semaphore(0)
    read = changelog._read

    def counted(*args: object, **kwargs: object) -> object:
        found = read(*args, **kwargs)  # type: ignore[arg-type]
        reads.release()
        return found

    monkeypatch.setattr(changelog, "_read", counted)
    restored: list[dict[int, RotationState]] = []
    worker = threading.Thread(target=lambda: restored.append(changelog.restore({0: 20})))
    worker.start()
    assert reads.acquire(timeout=30), "restore never read the changelog"
    # The stale state was read and not taken; now the record of offset 20 becomes readable.
    write(stream_settings, *changelog.record(0, state("new"), 20))
    worker.join(30)
    assert restored == [{0: state("new")}]


def test_a_record_without_its_offset_is_taken_as_it_is(
    stream_settings: Settings, changelog: RotationLog
) -> None:
    write(stream_settings, changelog.key(0), state("legacy").to_json())
    assert changelog.restore({0: 500}) == {0: state("legacy")}
