"""The decide stage's state: per-lead undo, commit, rollback and pruning, over real stores.

The stores are RocksDB in a temporary folder; the changelog is kept in memory (``statekit``), so
what a transaction would write to it can be read back as another processor would restore it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from statekit import FakeChangelog

from processor.rules.ledger import LEAD_MEMORY_S, SEP
from processor.settings import Settings
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
        assert store.scan(b"b\x1f", 10) == [(b"b\x1f1", b"B\x1f1"), (b"b\x1f2", b"B\x1f2")]
        assert store.scan(b"b\x1f", 1) == [(b"b\x1f1", b"B\x1f1")]
        assert store.scan(b"d", 10) == []
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
