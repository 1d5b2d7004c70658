"""What ``state show`` keeps of the state topic: each partition's cap windows and rotation only."""

from __future__ import annotations

from datetime import UTC, datetime

from fakes import Record

from processor.rules import Ledger, MemoryStore, compile_rules, decide, load_rules
from processor.rules.ledger import SEP
from processor.state.changelog import MARKER_KEY
from processor.state.reader import StateCopy

RULES = """
partners:
  - {id: east, format: json, destinations: ["https://east.example"], caps: [{per: day, leads: 9}]}
  - {id: west, format: json, destinations: ["https://west.example"], reject_duplicates_within: 30d}
profiles:
  - id: acme
    sources: [acme-site]
    strategy: round_robin
    duplicates: {keys: [contact.email], within: 30d}
    assignments:
      - {id: to-east, partner: east}
      - {id: to-west, partner: west}
"""
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _changelog(partition: int, count: int) -> list[Record]:
    """The records a processor's ledger of ``partition`` wrote for ``count`` leads."""
    snapshot = compile_rules(load_rules(RULES), "1")
    store = MemoryStore()
    ledger = Ledger(store)
    for number in range(count):
        lead = {
            "lead_id": f"p{partition}-{number}",
            "submitted_at": WHEN.isoformat(),
            "site_id": "acme-site",
            "contact": {"email": f"someone{partition}.{number}@example.com"},
        }
        decide(snapshot, lead, None, ledger, trace=False)
    records = [
        Record("state", partition, offset, key, value)
        for offset, (key, value) in enumerate(sorted(store.data.items()))
    ]
    return [*records, Record("state", partition, len(records), MARKER_KEY, b"12")]


def test_each_partition_keeps_its_caps_and_rotation_and_nothing_of_people() -> None:
    copy = StateCopy()
    for record in [*_changelog(0, 3), *_changelog(1, 1)]:
        copy.take(record)
    assert sorted(copy.stores) == [0, 1]
    kinds = {key.split(SEP)[0] for store in copy.stores.values() for key in store.data}
    assert kinds == {b"cap", b"rr"}  # no salt, lead ids, people digests, expiries or markers
    day = next(key for key in copy.stores[0].data if key.startswith(b"cap"))
    assert [Ledger(copy.stores[p]).cap_used(day.removeprefix(b"cap" + SEP)) for p in (0, 1)] == [
        2,  # round robin: east, west, east
        1,
    ]
    assert Ledger(copy.stores[0]).round_robin("acme") == {"east": 3, "west": 2}


def test_a_tombstone_deletes_and_a_record_without_a_key_is_no_state() -> None:
    copy = StateCopy()
    key = b"rr" + SEP + b"acme"
    copy.take(Record("state", 0, 0, key, b'{"tick": 1, "chosen": {"east": 1}}'))
    copy.take(Record("state", 0, 1, None, b"anything"))
    assert copy.stores[0].data == {key: b'{"tick": 1, "chosen": {"east": 1}}'}
    copy.take(Record("state", 0, 2, key, None))
    assert copy.stores[0].data == {}
