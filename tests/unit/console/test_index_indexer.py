"""The indexer: every record indexed exactly once across crashes and restarts; hostile records
skipped without stopping it; what it keeps bounded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from sqlalchemy import Engine, func, select

from processor.console.index import indexer as indexer_module
from processor.console.index.indexer import Indexer, OffsetsMoved
from processor.console.index.rows import TRACE_BYTES
from processor.console.index.schema import (
    dead_letters,
    decision_deliveries,
    decisions,
    index_offsets,
    open_index,
    receipts,
)
from processor.console.index.search import decisions_of, index_status, partner_days
from processor.console.index.source import Record
from tests.unit.console.index_kit import (
    AUDIT,
    DAY_MS,
    RECEIPTS,
    SETTINGS,
    T0,
    Message,
    Source,
    dead_letter,
    decision,
    message,
    on,
    receipt,
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")


def records() -> list[Message]:
    """Decisions on two partitions (with gaps, as transaction markers leave), receipts, and dead
    letters: 60 records."""
    found = [
        on(AUDIT, offset * 2, decision(f"lead-{p}-{offset}", T0 + offset), partition=p)
        for p in (0, 1)
        for offset in range(20)
    ]
    found += [
        on(RECEIPTS, n, receipt(f"lead-0-{n}-0", f"lead-0-{n}", "crm-east", "delivered", T0, 25.0))
        for n in range(15)
    ]
    return found + [dead_letter(n, "invalid-avro") for n in range(5)]


def index_all(indexer: Indexer) -> int:
    """Polls until a poll finds nothing; returns the records taken."""
    taken = 0
    while (count := indexer.poll_once(0)) > 0:
        taken += count
    return taken


def places(engine: Engine) -> list[tuple[str, int, int]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for table in (decisions, receipts, dead_letters)
            for row in connection.execute(select(table.c.topic, table.c.partition, table.c.offset))
        ]


def test_a_crash_inside_the_transaction_loses_and_repeats_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = records()
    first = Indexer(SETTINGS, engine, source=Source(given), batch=7)
    assert first.poll_once(0) == 7  # one batch committed before the crash
    real_store = indexer_module._store_offset

    def crash(*args: object) -> None:
        real_store(*args)  # type: ignore[arg-type]
        raise RuntimeError("killed after the rows and an offset were written")

    monkeypatch.setattr(indexer_module, "_store_offset", crash)
    with pytest.raises(RuntimeError):
        first.poll_once(0)
    monkeypatch.undo()
    assert len(places(engine)) == 7  # the failed batch's rows rolled back with its offsets

    restarted = Indexer(SETTINGS, engine, source=Source(given), batch=7)
    restarted.poll_once(0)
    again = Indexer(SETTINGS, engine, source=Source(given), batch=7)  # a second restart
    index_all(again)

    indexed = places(engine)
    assert sorted(indexed) == sorted((r.topic(), r.partition(), r.offset()) for r in given)
    with engine.connect() as connection:
        stored = dict(
            ((row.topic, row.partition), row.next_offset)
            for row in connection.execute(select(index_offsets))
        )
        delivered = connection.execute(
            select(func.count()).select_from(decision_deliveries)
        ).scalar_one()
    assert stored == {(AUDIT, 0): 39, (AUDIT, 1): 39, (RECEIPTS, 0): 15, ("dlq", 0): 5}
    assert delivered == 40
    days = partner_days(engine, T0 // DAY_MS, T0 // DAY_MS)
    assert [(d.partner, d.decided, d.delivered, d.revenue) for d in days] == [
        ("crm-east", 40, 15, {"USD": 375.0})
    ]
    status = index_status(engine)  # the counts kept in the rows' transactions
    assert (status.decisions, status.receipts, status.dead_letters) == (40, 15, 5)


def test_the_same_indexer_reads_again_from_the_database_after_a_failed_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = records()
    indexer = Indexer(SETTINGS, engine, source=Source(given), batch=10)

    def fail(*args: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(indexer_module, "_insert", fail)
    with pytest.raises(RuntimeError):
        indexer.poll_once(0)
    monkeypatch.undo()
    index_all(indexer)
    assert len(places(engine)) == len(given)


def test_topics_created_later_are_found(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    source = Source(records())
    source.hidden = {RECEIPTS, "dlq"}
    indexer = Indexer(SETTINGS, engine, source=source)
    index_all(indexer)
    assert len(places(engine)) == 40
    source.hidden = set()
    monkeypatch.setattr(indexer_module, "REDISCOVER_S", 0.0)
    index_all(indexer)
    assert len(places(engine)) == 60


def test_hostile_records_are_skipped_and_their_offsets_advance(engine: Engine) -> None:
    good = on(AUDIT, 3, decision("good", T0))
    hostile = [
        message(AUDIT, 0, 0, b"\x00\x00\x00\x00\x01garbage", [], T0),
        message(AUDIT, 0, 1, None, [], T0),
        on(RECEIPTS, 0, receipt("d", "l", "p", "delivered", T0, 1.0)),
    ]
    # A receipt on the audit topic is not a decision.
    misplaced = message(AUDIT, 0, 2, hostile[2].value(), [], T0)
    indexer = Indexer(SETTINGS, engine, source=Source([*hostile[:2], misplaced, good]))
    assert index_all(indexer) == 4
    assert indexer.skipped == 3
    assert [row.lead_id for row in decisions_of(engine, "good")] == ["good"]
    with engine.connect() as connection:
        stored = connection.execute(select(index_offsets.c.next_offset)).scalar_one()
    assert stored == 4


def test_what_is_kept_is_bounded_and_parses(engine: Engine) -> None:
    huge = json.dumps([{"condition": "x" * TRACE_BYTES}])
    given = [
        on(AUDIT, 0, decision("big", T0, trace=huge, error="e" * 100_000)),
        on(AUDIT, 1, decision("not-json", T0, trace="[{")),
        on(AUDIT, 2, decision("object", T0, trace='{"a": 1}')),
        on(AUDIT, 3, decision("nan", T0, price=float("nan"), partners=["p"] * 150)),
    ]
    index_all(Indexer(SETTINGS, engine, source=Source(given)))
    big = decisions_of(engine, "big")[0]
    assert "not kept" in json.loads(big.trace_json)[0]["note"]
    assert len(big.error or "") == 4_000
    for lead in ("not-json", "object"):
        assert isinstance(json.loads(decisions_of(engine, lead)[0].trace_json), list)
    nan = decisions_of(engine, "nan")[0]
    assert len(nan.deliveries) == 100
    assert nan.deliveries[0].price is None


def test_a_dead_letter_keeps_its_error_not_the_lead(engine: Engine) -> None:
    bare = message("dlq", 0, 1, b"x", [], -1)
    index_all(Indexer(SETTINGS, engine, source=Source([dead_letter(0, "invalid-lead"), bare])))
    with engine.connect() as connection:
        rows = connection.execute(select(dead_letters).order_by(dead_letters.c.offset)).all()
    assert [row.reason for row in rows] == ["invalid-lead", "unknown (no reason header)"]
    first = rows[0]
    assert (first.source_topic, first.source_partition, first.source_offset) == ("leads", 2, 41)
    assert first.exception == "processor.wire.errors.DecodeError"
    assert rows[1].at == 0
    assert "jane" not in repr(rows)


def test_an_indexer_that_fell_behind_never_moves_an_offset_back(engine: Engine) -> None:
    garbage = [message(AUDIT, 0, n, b"not avro", [], T0) for n in range(10)]
    given = garbage + [on(AUDIT, n, decision(f"lead-{n}", T0)) for n in range(10, 20)]
    behind = Indexer(SETTINGS, engine, source=Source(given), batch=5)
    assert behind.poll_once(0) == 5  # offsets 0-4, all skipped: stored 5
    ahead = Indexer(SETTINGS, engine, source=Source(given), batch=10)
    assert ahead.poll_once(0) == 10  # 5-14: stored 15
    with pytest.raises(OffsetsMoved):
        behind.poll_once(0)  # 5-9, all skipped: it would store 10, behind what is indexed
    index_all(Indexer(SETTINGS, engine, source=Source(given)))  # a restart reads on from 15
    assert sorted(offset for _, _, offset in places(engine)) == list(range(10, 20))
    index_all(behind)  # the one behind reads the stored offsets again: nothing is left
    assert len(places(engine)) == 10
    assert index_status(engine).decisions == 10  # the rolled-back batch counted nothing


def test_run_waits_out_a_failing_broker_and_stops_when_asked(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_module, "RETRY_S", 0.01)
    given = records()
    source = Source(given)
    real_consume = source.consume
    failures = [KafkaException(KafkaError(KafkaError._TRANSPORT))]

    def consume(count: int, timeout: float) -> Sequence[Record]:
        if failures:
            raise failures.pop()
        return real_consume(count, timeout)

    source.consume = consume  # type: ignore[method-assign]
    indexer = Indexer(SETTINGS, engine, source=source, batch=7)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 30
    while len(places(engine)) < len(given) and time.monotonic() < deadline:
        stop.wait(0.01)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert not failures and len(places(engine)) == len(given)


def test_nul_characters_are_replaced_as_postgresql_refuses_them(engine: Engine) -> None:
    given = [on(AUDIT, 0, decision("nul\x00lead", T0, error="bad\x00")), dead_letter(0, "r\x00")]
    index_all(Indexer(SETTINGS, engine, source=Source(given)))
    found = decisions_of(engine, "nul\ufffdlead")
    assert [row.error for row in found] == ["bad\ufffd"]
    with engine.connect() as connection:
        assert connection.execute(select(dead_letters.c.reason)).scalar_one() == "r\ufffd"


def test_a_failed_look_up_after_a_failed_batch_still_seeks_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = records()
    source = Source(given)
    indexer = Indexer(SETTINGS, engine, source=source, batch=10)
    real_insert, real_partitions = indexer_module._insert, source.partitions

    def fail(*args: object) -> None:
        raise RuntimeError("database went away")

    def unreachable(topic: str) -> list[int]:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    monkeypatch.setattr(indexer_module, "_insert", fail)
    with pytest.raises(RuntimeError):
        indexer.poll_once(0)  # the source read 10 records past what the database holds
    monkeypatch.setattr(indexer_module, "_insert", real_insert)
    source.partitions = unreachable  # type: ignore[method-assign]
    with pytest.raises(KafkaException):
        indexer.poll_once(0)
    source.partitions = real_partitions  # type: ignore[method-assign]
    index_all(indexer)
    assert sorted(places(engine)) == sorted((r.topic(), r.partition(), r.offset()) for r in given)


def test_an_index_read_to_the_end_stands_past_the_closing_markers(engine: Engine) -> None:
    """The commit marker after a partition's last record holds no record: once caught up, the
    stored offset is past it, so the index's lag reads 0 and not 1 a partition."""
    source = Source(records())
    source.markers = {(AUDIT, 0): 40, (AUDIT, 1): 40}  # records at 0, 2, ... 38; a marker at 39
    indexer = Indexer(SETTINGS, engine, source=source)
    assert index_all(indexer) == 60
    with engine.connect() as connection:
        stored = dict(
            ((row.topic, row.partition), row.next_offset)
            for row in connection.execute(select(index_offsets))
        )
    assert stored[(AUDIT, 0)] == stored[(AUDIT, 1)] == 40
    assert stored[(RECEIPTS, 0)] == 15  # no marker known: after the last record
    restarted = Indexer(SETTINGS, engine, source=Source(records()))
    assert index_all(restarted) == 0 and len(places(engine)) == 60
