"""The ledger's stored values: packed, checked as hostile input, and read as an earlier version
wrote them (JSON), so that a store restored from an older changelog keeps its memory."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from processor.rules import Ledger, MemoryStore
from processor.rules.ledger import EXPIRY, SEP, Sold, epoch_ms

WHEN = datetime(2026, 11, 20, 10, tzinfo=UTC)
AT = epoch_ms(WHEN)
LEAD = b"lead" + SEP + b"L-1"
DUP = b"dup" + SEP + b"main" + SEP + b"digest"
SENT = b"sent" + SEP + b"p1" + SEP + b"digest"
CAP = b"partner/p1" + SEP + b"day" + SEP + b"leads" + SEP + b"2026-11-20"
SOLD = Sold("d-1", "L-1", "p1", "main", 12.5, "USD", AT, ((CAP, 1),), ("p1",))
HOUR_MS = 3_600_000


def older(store: MemoryStore) -> None:
    """Fills ``store`` as the version that wrote JSON objects would have."""
    day_ms = 86_400_000
    store.set(LEAD, orjson.dumps({"at": AT, "exp": AT + 30 * day_ms, "outcome": "routed"}))
    for key in (DUP, SENT):
        store.set(key, orjson.dumps({"lead": "L-1", "at": AT, "exp": AT + day_ms}))
    store.set(b"cap" + SEP + CAP, orjson.dumps({"used": 7, "exp": AT + day_ms}))
    store.set(b"dlv" + SEP + b"d-1", orjson.dumps(SOLD.as_json()))


def test_what_an_earlier_version_wrote_as_json_is_read_and_counted_on() -> None:
    store = MemoryStore()
    older(store)
    ledger = Ledger(store)
    prior = ledger.decided("L-1", WHEN)
    assert prior is not None and (prior.at, prior.outcome) == (WHEN, "routed")
    later = WHEN + timedelta(hours=1)
    found = ledger.seen_by_profile("main", [b"digest"], later, HOUR_MS)
    assert found is not None and found.lead_id == "L-1"
    found = ledger.seen_by_partner("p1", [b"digest"], later, HOUR_MS)
    assert found is not None and found.lead_id == "L-1"
    assert ledger.sold("d-1") == SOLD
    assert ledger.cap_used(CAP) == 7
    assert ledger.count(CAP, 1, AT + 86_400_000) == 8
    ledger.give_back(((CAP, 3),))
    assert ledger.cap_used(CAP) == 5


def test_values_written_are_read_back() -> None:
    ledger = Ledger(MemoryStore())
    ledger.decide_lead("L-1", WHEN, "fallback")
    ledger.profile_routed("main", [b"digest"], "L-1", WHEN, HOUR_MS)
    ledger.partner_received("p1", [b"digest"], "L-1", WHEN, HOUR_MS)
    ledger.sell(SOLD)
    assert ledger.count(CAP, 2, None) == 2
    assert ledger.count(CAP, 3, AT) == 5
    prior = ledger.decided("L-1", WHEN)
    assert prior is not None and prior.outcome == "fallback"
    found = ledger.seen_by_profile("main", [b"digest"], WHEN, HOUR_MS)
    assert found is not None and (found.lead_id, found.at) == ("L-1", WHEN)
    assert ledger.seen_by_partner("p1", [b"digest"], WHEN, HOUR_MS) is not None
    assert ledger.sold("d-1") == SOLD
    assert ledger.cap_used(CAP) == 5


def test_a_person_remembered_for_a_later_lead_is_kept() -> None:
    ledger = Ledger(MemoryStore())
    ledger.profile_routed("main", [b"digest"], "L-2", WHEN, HOUR_MS)
    ledger.profile_routed("main", [b"digest"], "L-1", WHEN - timedelta(minutes=1), HOUR_MS)
    found = ledger.seen_by_profile("main", [b"digest"], WHEN, HOUR_MS)
    assert found is not None and found.lead_id == "L-2"


PACKED_MEMORY = bytes([1]) + (AT + HOUR_MS).to_bytes(8, "little") + AT.to_bytes(8, "little")
PACKED_COUNTER = bytes([2]) + (AT + HOUR_MS).to_bytes(8, "little") + (7).to_bytes(8, "little")


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x01",
        PACKED_MEMORY[:-1],
        PACKED_COUNTER,  # a counter where a memory belongs
        PACKED_MEMORY + b"\xff\xfe",  # its text is not UTF-8
        bytes([1]) + bytes(8) + (2**63 - 1).to_bytes(8, "little") + b"L",  # off the calendar
        b"\x07" + PACKED_MEMORY[1:] + b"L",
        b'{"lead": 3, "at": "x"}',
        b"{",
    ],
)
def test_a_memory_that_is_not_one_counts_as_absent(
    value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    for key in (LEAD, DUP, SENT):
        store.set(key, value)
    ledger = Ledger(store)
    with caplog.at_level(logging.ERROR):
        assert ledger.decided("L-1", WHEN) is None
        assert ledger.seen_by_profile("main", [b"digest"], WHEN, HOUR_MS) is None
        assert ledger.seen_by_partner("p1", [b"digest"], WHEN, HOUR_MS) is None
    assert "taken as absent" in caplog.text
    ledger.decide_lead("L-1", WHEN, "routed")  # written over, it is memory again
    assert ledger.decided("L-1", WHEN) is not None


@pytest.mark.parametrize(
    "value",
    [
        PACKED_COUNTER[:-1],
        PACKED_COUNTER + b"\x00",
        PACKED_MEMORY,  # a memory where a counter belongs
        b'{"used": 1e400}',
        b'{"used": 18446744073709551615}',  # past what a counter holds
        b'{"used": 5, "exp": 18446744073709551615}',
        b"\xff" * 17,
    ],
)
def test_a_counter_that_is_not_one_counts_as_unused_and_is_counted_afresh(value: bytes) -> None:
    store = MemoryStore()
    store.set(b"cap" + SEP + CAP, value)
    ledger = Ledger(store)
    assert ledger.cap_used(CAP) == 0
    ledger.give_back(((CAP, 1),))  # nothing to give back to
    assert store.data[b"cap" + SEP + CAP] == value
    assert ledger.count(CAP, 1, AT) == 1


@pytest.mark.parametrize(
    "value",
    [
        b"\x03" + bytes(8) + b"[]",
        b"\x03" + bytes(7),
        b"\x03" + bytes(8) + orjson.dumps({**SOLD.as_json(), "at": 2**62}),  # off the calendar
        b"\x01" + bytes(8) + orjson.dumps(SOLD.as_json()),
    ],
)
def test_a_delivery_that_is_not_one_counts_as_never_made(value: bytes) -> None:
    store = MemoryStore()
    store.set(b"dlv" + SEP + b"d-1", value)
    assert Ledger(store).sold("d-1") is None


def test_a_counter_given_back_more_than_it_holds_stops_at_nothing() -> None:
    ledger = Ledger(MemoryStore())
    ledger.count(CAP, 2, AT)
    ledger.give_back(((CAP, 2**63 - 1),))
    assert ledger.cap_used(CAP) == 0
    ledger.give_back(((CAP, -(2**63)),))  # a stored delivery says it counted less than nothing
    assert ledger.cap_used(CAP) == 2**63 - 1


def test_pruning_counts_every_listed_key_so_forged_long_indexes_cannot_stall_a_commit() -> None:
    store = MemoryStore()
    ledger = Ledger(store)
    now = epoch_ms(datetime(2026, 11, 20, tzinfo=UTC))
    store.set(b"clock", str(now).encode())
    nothing_there = b"\x01" + b"\x00\x00\x00\x00" * 10_000  # ten thousand empty keys
    for n in range(5):
        store.set(EXPIRY + b"0700000" + SEP + b"forged-%d" % n, nothing_there)
    ledger.prune(store, 100, now)
    left = [key for key in store.data if key.startswith(EXPIRY)]
    assert len(left) == 4  # one forged index looked at whole, then the limit
