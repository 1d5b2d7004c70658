"""State stores: read-your-writes, commit and rollback with the Kafka transaction, the changelog
records and markers, and restore from the changelog when the local copy is not current."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from statekit import FakeChangelog

from processor.kafka.records import OutputRecord
from processor.rules import Ledger
from processor.settings import Settings
from processor.state import stores as stores_module
from processor.state.changelog import MARKER_KEY, marker
from processor.state.stores import StateStores

TOPIC = "state-test"


def settings_in(folder: Path) -> Settings:
    return Settings(state_dir=folder, transactional_id="tx-test", state_topic=TOPIC)


@pytest.fixture
def changelog() -> FakeChangelog:
    return FakeChangelog()


@pytest.fixture
def stores(tmp_path: Path, changelog: FakeChangelog) -> Iterator[StateStores]:
    made = StateStores(settings_in(tmp_path / "here"), changelog)
    yield made
    made.close()


def committed_transaction(
    stores: StateStores, changelog: FakeChangelog, offsets: dict[int, int]
) -> None:
    """What the loop does around a Kafka commit: the changelog records go in the transaction,
    and the stores commit once it has."""
    changelog.publish(stores.changelog(offsets))
    stores.commit()


def test_a_store_reads_its_own_pending_writes(stores: StateStores) -> None:
    stores.assign({0: -1001, 1: -1001})
    store = stores.store(0)
    store.set(b"k", b"v1")
    assert store.get(b"k") == b"v1"
    store.set(b"k", b"v2")
    assert store.get(b"k") == b"v2"
    store.delete(b"k")
    assert store.get(b"k") is None
    assert stores.store(1).get(b"k") is None
    assert store.partition == 0


def test_rollback_drops_pending_writes_and_shows_the_committed_state(
    stores: StateStores, changelog: FakeChangelog
) -> None:
    stores.assign({0: -1001})
    store = stores.store(0)
    store.set(b"k", b"committed")
    committed_transaction(stores, changelog, {0: 1})
    store.set(b"k", b"pending")
    store.set(b"other", b"pending")
    stores.rollback()
    assert store.get(b"k") == b"committed"
    assert store.get(b"other") is None
    assert list(store.pending()) == []


def test_the_changelog_holds_pending_writes_and_a_marker_for_every_partition(
    stores: StateStores,
) -> None:
    stores.assign({0: -1001, 1: -1001, 2: -1001})
    stores.store(0).set(b"a", b"1")
    stores.store(0).delete(b"b")
    stores.store(0).set(b"a", b"2")
    stores.store(2).set(b"c", b"3")  # not in this transaction's offsets
    records = stores.changelog({0: 5, 1: 9})
    assert records == [
        OutputRecord(TOPIC, b"a", b"2", partition=0),
        OutputRecord(TOPIC, b"b", None, partition=0),
        marker(TOPIC, 0, 5),
        marker(TOPIC, 1, 9),
    ]
    assert marker(TOPIC, 1, 9) == OutputRecord(TOPIC, MARKER_KEY, b"9", partition=1)


def test_commit_persists_with_the_input_offset_and_a_current_store_is_not_read_again(
    tmp_path: Path, changelog: FakeChangelog
) -> None:
    first = StateStores(settings_in(tmp_path / "here"), changelog)
    first.assign({0: -1001})
    first.store(0).set(b"k", b"v")
    committed_transaction(first, changelog, {0: 3})
    first.close()
    changelog.partitions.clear()  # a restore would find nothing: the value must be local

    again = StateStores(settings_in(tmp_path / "here"), changelog)
    again.assign({0: 3})
    assert again.store(0).get(b"k") == b"v"
    assert changelog.reads == []
    again.close()


def test_a_new_owner_restores_the_committed_state_from_the_changelog(
    tmp_path: Path, stores: StateStores, changelog: FakeChangelog
) -> None:
    stores.assign({0: -1001, 1: -1001})
    stores.store(0).set(b"kept", b"1")
    stores.store(0).set(b"deleted", b"2")
    stores.store(1).set(b"other", b"3")
    committed_transaction(stores, changelog, {0: 4, 1: 2})
    stores.store(0).delete(b"deleted")
    stores.store(0).set(b"kept", b"5")
    committed_transaction(stores, changelog, {0: 8, 1: 2})
    stores.store(0).set(b"kept", b"aborted")
    stores.rollback()

    elsewhere = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    elsewhere.assign({0: 8})
    restored = elsewhere.store(0)
    assert restored.get(b"kept") == b"5"
    assert restored.get(b"deleted") is None
    assert restored.get(b"other") is None  # partition 1's, in its own changelog partition
    assert changelog.reads == [{0: 0}]
    elsewhere.close()


def test_a_local_store_behind_the_committed_offset_is_wiped_and_restored(
    tmp_path: Path, changelog: FakeChangelog
) -> None:
    local = StateStores(settings_in(tmp_path / "here"), changelog)
    local.assign({0: -1001})
    local.store(0).set(b"gone", b"1")
    committed_transaction(local, changelog, {0: 2})
    local.close()

    # Another processor owned the partition meanwhile and deleted the key.
    other = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    other.assign({0: 2})
    other.store(0).delete(b"gone")
    other.store(0).set(b"new", b"2")
    committed_transaction(other, changelog, {0: 6})
    other.close()

    back = StateStores(settings_in(tmp_path / "here"), changelog)
    back.assign({0: 6})
    assert back.store(0).get(b"gone") is None
    assert back.store(0).get(b"new") == b"2"
    back.close()


def test_nothing_committed_gives_an_empty_store_without_reading(
    tmp_path: Path, changelog: FakeChangelog
) -> None:
    local = StateStores(settings_in(tmp_path / "here"), changelog)
    local.assign({0: -1001})
    local.store(0).set(b"k", b"v")
    committed_transaction(local, changelog, {0: 3})
    local.close()
    changelog.reads.clear()

    again = StateStores(settings_in(tmp_path / "here"), changelog)
    again.assign({0: -1001})  # the group's offsets were deleted, say
    assert again.store(0).get(b"k") is None
    assert changelog.reads == []
    again.close()


def test_a_restore_reads_on_until_the_marker_of_the_committed_offset_arrives(
    tmp_path: Path, stores: StateStores, changelog: FakeChangelog
) -> None:
    stores.assign({0: -1001})
    stores.store(0).set(b"k", b"old")
    committed_transaction(stores, changelog, {0: 10})
    stores.store(0).set(b"k", b"new")
    late = stores.changelog({0: 20})  # committed, but not yet readable

    def markers_arrive(reads_so_far: int) -> None:
        if reads_so_far == 2:
            changelog.publish(late)

    changelog.before_read = markers_arrive
    elsewhere = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    elsewhere.assign({0: 20})
    assert elsewhere.store(0).get(b"k") == b"new"
    assert changelog.reads[0] == {0: 0}
    assert changelog.reads[-1] == {0: 2}  # read on from where it stopped, not from the start
    elsewhere.close()


def test_a_restore_goes_on_with_what_it_found_when_the_marker_never_comes(
    tmp_path: Path,
    stores: StateStores,
    changelog: FakeChangelog,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(stores_module, "CATCH_UP_S", 0.2)
    stores.assign({0: -1001})
    stores.store(0).set(b"k", b"old")
    committed_transaction(stores, changelog, {0: 10})

    elsewhere = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    with caplog.at_level(logging.WARNING):
        elsewhere.assign({0: 20})
    assert elsewhere.store(0).get(b"k") == b"old"
    assert "older than their committed offsets" in caplog.text
    assert elsewhere.store(0).input_offset == 10  # not current: the next owner restores again
    elsewhere.close()


def test_revoke_drops_pending_writes_and_closes_the_store(
    stores: StateStores, changelog: FakeChangelog
) -> None:
    stores.assign({0: -1001, 1: -1001})
    stores.store(0).set(b"k", b"committed")
    committed_transaction(stores, changelog, {0: 1, 1: 0})
    stores.store(0).set(b"k", b"pending")
    stores.revoke([0])
    with pytest.raises(KeyError):
        stores.store(0)
    assert stores.store(1).get(b"k") is None
    stores.assign({0: 1})
    assert stores.store(0).get(b"k") == b"committed"


def test_the_marker_key_is_refused(stores: StateStores) -> None:
    stores.assign({0: -1001})
    with pytest.raises(ValueError, match="changelog"):
        stores.store(0).set(MARKER_KEY, b"x")
    with pytest.raises(ValueError, match="changelog"):
        stores.store(0).delete(MARKER_KEY)
    assert list(stores.store(0).pending()) == []


def test_a_ledger_written_in_a_store_is_restored_elsewhere(
    tmp_path: Path, stores: StateStores, changelog: FakeChangelog
) -> None:
    stores.assign({0: -1001})
    assert Ledger(stores.store(0)).round_robin("market") == {}
    Ledger(stores.store(0)).chose("market", "east")
    committed_transaction(stores, changelog, {0: 1})
    elsewhere = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    elsewhere.assign({0: 1})
    assert Ledger(elsewhere.store(0)).round_robin("market") == {"east": 1}
    elsewhere.close()


def test_a_folder_held_by_another_process_gives_a_temporary_store_restored_from_the_changelog(
    tmp_path: Path, stores: StateStores, changelog: FakeChangelog
) -> None:
    """A processor replacing one with its transactional id on this host, still running (frozen,
    about to be fenced), finds its stores' folders locked by RocksDB."""
    stores.assign({0: -1001})
    stores.store(0).set(b"k", b"v")
    committed_transaction(stores, changelog, {0: 1})
    script = (
        "import sys, time\nfrom rocksdict import Rdict\n"
        "db = Rdict(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    stores.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "here" / "tx-test" / TOPIC / "0")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        replacement = StateStores(settings_in(tmp_path / "here"), changelog)
        replacement.assign({0: 1})
        assert replacement.store(0).get(b"k") == b"v"
        temporary = tmp_path / "here" / "tx-test" / TOPIC / f"0.{os.getpid()}"
        assert temporary.is_dir()
        replacement.close()
        assert not temporary.exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    "value",
    [b"\xff not an offset", b"9" * 5000, b"-3", b""],
    ids=["junk", "huge", "negative", "empty"],
)
def test_a_marker_that_names_no_offset_is_taken_as_no_marker(
    tmp_path: Path, changelog: FakeChangelog, monkeypatch: pytest.MonkeyPatch, value: bytes
) -> None:
    """The changelog is a topic: a record written there by another hand must not stop every
    restore of its partition."""
    monkeypatch.setattr(stores_module, "CATCH_UP_S", 0.2)
    changelog.publish([OutputRecord(TOPIC, b"k", b"v", partition=0)])
    changelog.publish([OutputRecord(TOPIC, MARKER_KEY, value, partition=0)])
    stores = StateStores(settings_in(tmp_path / "here"), changelog)
    stores.assign({0: 5})
    assert stores.store(0).get(b"k") == b"v"
    stores.close()


@pytest.mark.parametrize("value", [b"[[[", b"[" * 100_000, b'{"tick": 9, "chosen": 3}'])
def test_an_unreadable_rotation_state_starts_rotation_afresh(
    stores: StateStores, changelog: FakeChangelog, value: bytes
) -> None:
    key = b"rr\x1fmarket"
    changelog.publish([OutputRecord(TOPIC, key, value, partition=0), marker(TOPIC, 0, 5)])
    stores.assign({0: 5})
    assert Ledger(stores.store(0)).round_robin("market") == {}
