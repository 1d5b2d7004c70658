"""What the ledger keeps between leads to be fast never disagrees with what its store holds."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from processor.rules import Ledger, MemoryStore
from processor.rules.values import Opaque, canonical, keys

WEIGHTED = b"wt\x1fmain"


def test_scores_written_are_read_back_and_an_undo_is_seen() -> None:
    ledger = Ledger(MemoryStore())
    ledger.set_scores("main", {"a": 3, "b": -3})
    ledger.begin()
    scores = ledger.scores("main")
    scores["a"] = 1
    ledger.set_scores("main", scores)
    assert ledger.scores("main") == {"a": 1, "b": -3}
    ledger.undo()
    assert ledger.scores("main") == {"a": 3, "b": -3}


def test_scores_changed_but_never_written_are_not_read_back() -> None:
    ledger = Ledger(MemoryStore())
    ledger.set_scores("main", {"a": 3})
    ledger.scores("main")["a"] = 99
    assert ledger.scores("main") == {"a": 3}


def test_scores_another_writer_stored_are_the_ones_read() -> None:
    store = MemoryStore()
    ledger = Ledger(store)
    ledger.set_scores("main", {"a": 3})
    store.set(WEIGHTED, orjson.dumps({"a": 7, "c": True}))
    assert ledger.scores("main") == {"a": 7}


def test_what_undo_took_back_is_written_again_by_redo_and_can_be_undone_again() -> None:
    store = MemoryStore()
    ledger = Ledger(store)
    ledger.set_scores("main", {"a": 1})
    before = dict(store.data)
    ledger.begin()
    ledger.set_scores("main", {"a": 2})
    ledger.set_scores("other", {"b": 1})
    after = dict(store.data)
    written = ledger.written()
    ledger.undo()
    assert store.data == before
    ledger.begin()
    ledger.redo(written)
    assert store.data == after
    ledger.undo()
    assert store.data == before


_values = st.lists(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=60)
    | st.lists(st.integers(), max_size=2),
    max_size=20,
)


@given(values=_values)
def test_keys_are_the_canonical_keys_whether_remembered_or_not(values: list[object]) -> None:
    for _ in range(2):  # the second time, texts' keys are remembered ones
        found = keys(values)
        expected = [canonical(value) for value in values]
        assert [type(k) for k in found] == [type(k) for k in expected]
        assert [k for k in found if not isinstance(k, Opaque)] == [
            k for k in expected if not isinstance(k, Opaque)
        ]
