"""The decide stage's state: per-lead undo, commit, rollback and pruning, over real stores.

The stores are RocksDB in a temporary folder; the changelog is kept in memory (``statekit``), so
what a transaction would write to it can be read back as another processor would restore it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from statekit import FakeChangelog

from processor.kafka.records import OutputRecord
from processor.rules import ledger as ledger_module
from processor.rules.ledger import EXPIRY, LEAD_MEMORY_S, SEP, epoch_ms
from processor.settings import Settings
from processor.state.changelog import marker
from processor.state.decide import DecideState
from processor.state.store import PartitionStore
from processor.state.stores import StateStores

WHEN = datetime(2026, 11, 20, 10, tzinfo=UTC)


def settings_in(folder: Path) -> Settings:
    return Settings(state_topic="state", state_dir=folder, transactional_id="decide-test")


@pytest.fixture
def changelog() -> FakeChangelog:
    return FakeChangelog()


@pytest.fixture
def state(tmp_path: Path, changelog: FakeChangelog) -> Iterator[DecideState]:
    made = DecideState(StateStores(settings_in(tmp_path / "owner"), changelog), LEAD_MEMORY_S)
    made.assign({0: -1})
    yield made
    made.close()


def commit(state: DecideState, changelog: FakeChangelog, offset: int) -> list[bytes | None]:
    """Commits the open transaction at input ``offset``; the keys it wrote to the changelog."""
    records = state.changelog({0: offset})
    changelog.publish(records)
    state.commit()
    return [r.key for r in records]


def restored(tmp_path: Path, changelog: FakeChangelog, offset: int) -> dict[bytes, bytes]:
    """The keys and values another processor restores from the changelog at ``offset``."""
    elsewhere = StateStores(settings_in(tmp_path / "elsewhere"), changelog)
    try:
        elsewhere.assign({0: offset})
        return dict(elsewhere.store(0).scan(b"", 1_000_000))
    finally:
        elsewhere.close()


def test_a_scan_reads_committed_keys_in_order_from_a_prefix_up_to_a_limit(tmp_path: Path) -> None:
    store = PartitionStore(0, tmp_path / "store")
    try:
        for key in (b"b\x1f2", b"a\x1f1", b"b\x1f1", b"c"):
            store.set(key, key.upper())
        store.commit(1)
        store.set(b"b\x1f0", b"pending")  # not committed: not seen
        assert list(store.scan(b"b\x1f", 10)) == [(b"b\x1f1", b"B\x1f1"), (b"b\x1f2", b"B\x1f2")]
        assert list(store.scan(b"b\x1f", 1)) == [(b"b\x1f1", b"B\x1f1")]
        assert list(store.scan(b"d", 10)) == []
    finally:
        store.close()


def test_a_commit_prunes_what_has_expired_and_the_changelog_forgets_it(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    ledger = state.of(0)
    earlier = WHEN - timedelta(seconds=ledger.lead_memory_ms // 1000) - timedelta(days=2)
    ledger.decide_lead("old", earlier, "routed")
    commit(state, changelog, 1)
    state.of(0).decide_lead("new", WHEN, "routed")
    written = commit(state, changelog, 2)  # the clock moved past the old lead's memory
    assert b"lead" + SEP + b"old" in written
    kept = restored(tmp_path, changelog, 2)
    assert b"lead" + SEP + b"old" not in kept and b"lead" + SEP + b"new" in kept


def test_a_rolled_back_transaction_leaves_no_ledger_write_behind(
    state: DecideState, changelog: FakeChangelog
) -> None:
    ledger = state.of(0)
    salt = ledger.salt  # made and written with the first use
    ledger.decide_lead("lead-1", WHEN, "routed")
    state.rollback()
    again = state.of(0)
    assert again.decided("lead-1", WHEN) is None
    assert again.salt != salt  # the aborted salt was never committed
    commit(state, changelog, 1)
    assert state.of(0).decided("lead-1", WHEN) is None


def test_undo_takes_back_one_leads_changes_only(state: DecideState) -> None:
    ledger = state.of(0)
    ledger.begin()
    ledger.decide_lead("lead-1", WHEN, "routed")
    ledger.chose("p", "a")
    ledger.begin()
    ledger.decide_lead("lead-2", WHEN, "routed")
    ledger.chose("p", "b")
    ledger.undo()
    assert ledger.decided("lead-1", WHEN) is not None
    assert ledger.decided("lead-2", WHEN) is None
    assert ledger.round_robin("p") == {"a": 1}


def test_undo_gives_back_committed_values_and_leaves_no_write_of_them(
    state: DecideState, changelog: FakeChangelog
) -> None:
    ledger = state.of(0)
    ledger.begin()
    ledger.chose("p", "a")
    commit(state, changelog, 1)
    ledger = state.of(0)
    ledger.begin()
    ledger.chose("p", "b")
    ledger.decide_lead("lead-2", WHEN, "routed")
    ledger.undo()
    assert ledger.round_robin("p") == {"a": 1}
    assert ledger.decided("lead-2", WHEN) is None
    assert state.changelog({0: 2})[:-1] == []  # only the offset marker: nothing to write


def test_a_salt_made_by_an_undone_lead_is_not_kept(state: DecideState) -> None:
    ledger = state.of(0)
    ledger.begin()
    salt = ledger.salt
    ledger.undo()
    ledger.begin()
    again = ledger.salt
    assert again != salt
    assert ledger.salt == again  # kept from then on


def test_a_lead_dated_far_ahead_does_not_make_live_memory_look_old(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    """Pruning goes by the latest lead time, but never past the wall clock."""
    now = datetime.now(UTC)
    state.of(0).decide_lead("live", now, "routed")
    commit(state, changelog, 1)
    state.of(0).decide_lead("far-ahead", datetime(9999, 12, 31, tzinfo=UTC), "routed")
    commit(state, changelog, 2)
    kept = restored(tmp_path, changelog, 2)
    assert b"lead" + SEP + b"live" in kept


PAST = datetime(2026, 8, 1, tzinfo=UTC)
"""A lead time that memory outlives by far less than the time since: pruning goes by the lead
time, but never past the wall clock."""


def index_keys(keys: list[bytes | None]) -> list[bytes]:
    return [key for key in keys if key is not None and key.startswith(EXPIRY)]


def test_a_transaction_indexes_what_it_wrote_to_expire_in_one_record_per_day(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    ledger = state.of(0)
    for n in range(3):
        ledger.decide_lead(f"lead-{n}", PAST, "routed")
        ledger.count(b"total", 1, None)  # a counter of a total window: never forgotten
    written = commit(state, changelog, 1)
    assert len(index_keys(written)) == 1
    assert len(written) == 3 + 1 + 1 + 1 + 1  # the leads, counter, clock, index and marker
    later = PAST + timedelta(seconds=ledger.lead_memory_ms // 1000) + timedelta(days=2)
    state.of(0).decide_lead("later", later, "routed")
    written = commit(state, changelog, 2)
    assert {f"lead-{n}".encode() for n in range(3)} <= {
        key.removeprefix(b"lead" + SEP) for key in written if key is not None
    }
    kept = restored(tmp_path, changelog, 2)
    assert [key for key in kept if key.startswith(b"lead")] == [b"lead" + SEP + b"later"]
    assert b"cap" + SEP + b"total" in kept
    assert len(index_keys(list(kept))) == 1  # the later lead's


def test_a_key_written_again_to_expire_later_is_kept_past_its_first_day(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    state.of(0).count(b"window", 1, epoch_ms(PAST))
    commit(state, changelog, 1)
    state.of(0).count(b"window", 1, epoch_ms(PAST + timedelta(days=10)))
    commit(state, changelog, 2)
    state.of(0).decide_lead("later", PAST + timedelta(days=3), "routed")
    commit(state, changelog, 3)  # the first day's index is dropped, not the counter
    kept = restored(tmp_path, changelog, 3)
    assert state.of(0).cap_used(b"window") == 2
    assert b"cap" + SEP + b"window" in kept


def test_an_index_of_many_keys_is_split_and_each_part_pruned(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "INDEX_BYTES", 100)
    for n in range(20):
        state.of(0).decide_lead(f"lead-{n:02}", PAST, "routed")
    assert len(index_keys(commit(state, changelog, 1))) > 3
    later = PAST + timedelta(seconds=LEAD_MEMORY_S) + timedelta(days=2)
    state.of(0).decide_lead("later", later, "routed")
    commit(state, changelog, 2)
    kept = restored(tmp_path, changelog, 2)
    assert [key for key in kept if key.startswith(b"lead")] == [b"lead" + SEP + b"later"]


def test_an_index_others_wrote_drops_only_expired_memory_and_no_more_than_it_can_read(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    """The changelog can be written by anyone: an index naming the salt, the clock or rotation
    drops none of them, and a damaged one drops the keys listed before the damage."""
    ledger = state.of(0)
    salt = ledger.salt
    ledger.chose("main", "p1")
    ledger.decide_lead("old", PAST - timedelta(days=40), "routed")
    commit(state, changelog, 1)
    store = state._stores.store(0)  # written as a restore from a changelog others wrote would
    old = store.get(b"lead" + SEP + b"old")
    assert old is not None
    listed = [b"salt", b"clock", b"rr" + SEP + b"main", b"lead" + SEP + b"old"]
    listing = b"\x01" + b"".join(len(key).to_bytes(4, "little") + key for key in listed)
    damaged = listing + (99).to_bytes(4, "little") + b"lead" + SEP + b"kept"
    store.write([(b"lead" + SEP + b"kept", old), (EXPIRY + b"0000001" + SEP + b"x", damaged)], 1)
    state.of(0).decide_lead("now", PAST, "routed")
    commit(state, changelog, 2)
    ledger = state.of(0)
    assert (ledger.salt, ledger.round_robin("main")) == (salt, {"p1": 1})
    assert ledger.decided("old", PAST - timedelta(days=40)) is None
    assert ledger.decided("kept", PAST - timedelta(days=40)) is not None
    assert store.get(b"clock") is not None


def test_a_store_restored_from_an_older_changelog_keeps_its_memory_and_forgets_it_in_time(
    state: DecideState, changelog: FakeChangelog, tmp_path: Path
) -> None:
    """An earlier version wrote JSON values and one empty index key per expiring key."""
    at = epoch_ms(PAST)
    expires = at + LEAD_MEMORY_S * 1000
    day = b"%07d" % (expires // 86_400_000 + 719_163)
    key = b"lead" + SEP + b"L-1"
    value = orjson.dumps({"at": at, "exp": expires, "outcome": "routed"})
    counter = b"cap" + SEP + b"window"
    changelog.publish(
        [
            OutputRecord("state", key, value, partition=0),
            OutputRecord("state", EXPIRY + day + SEP + key, b"", partition=0),
            OutputRecord("state", counter, orjson.dumps({"used": 4, "exp": expires}), partition=0),
            marker("state", 0, 1),
        ]
    )
    elsewhere = DecideState(StateStores(settings_in(tmp_path / "new"), changelog), LEAD_MEMORY_S)
    try:
        elsewhere.assign({0: 1})
        ledger = elsewhere.of(0)
        prior = ledger.decided("L-1", PAST)
        assert prior is not None and prior.outcome == "routed"
        assert ledger.count(b"window", 1, expires) == 5
        elsewhere.changelog({0: 2})
        elsewhere.commit()
        later = PAST + timedelta(seconds=LEAD_MEMORY_S) + timedelta(days=2)
        elsewhere.of(0).decide_lead("later", later, "routed")
        elsewhere.changelog({0: 3})
        elsewhere.commit()
        kept = dict(elsewhere._stores.store(0).scan(b"", 1000))
    finally:
        elsewhere.close()
    assert key not in kept and EXPIRY + day + SEP + key not in kept
    assert counter not in kept
