"""The console's index on the real broker, into SQLite and into a real PostgreSQL server.

Decisions, receipts and dead letters are published in Kafka transactions as the processor and
the delivery workers publish them, one transaction aborted; the indexer is stopped part way and
another started on the same database. Every committed record must be indexed exactly once, no
aborted one ever, and the searches must find them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer, TopicPartition
from sqlalchemy import Engine, func, select

from processor.console.index import indexer as indexer_module
from processor.console.index.indexer import Indexer
from processor.console.index.schema import (
    dead_letters,
    decisions,
    metadata,
    open_index,
    receipts,
)
from processor.console.index.search import DecisionQuery, index_status, partner_days, search
from processor.kafka import clients
from processor.kafka.admin import TopicAdmin, TopicSpec
from processor.kafka.records import ERROR_HEADER, OFFSET_HEADER, SOURCE_HEADERS
from processor.settings import Settings
from processor.wire import Codec

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PARTNERS = ("crm-east", "crm-west", "crm-north")


@pytest.fixture
def settings(kafka_bootstrap: str, unique: str) -> Settings:
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"group-{unique}",
        audit_topic=f"audit-{unique}",
        receipts_topic=f"receipts-{unique}",
        dlq_topic=f"dlq-{unique}",
        topic_partitions=1,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('index') / 'index.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_index(url)
    metadata.drop_all(engine)  # the PostgreSQL database is shared by the run: start empty
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def decision(lead_id: str, n: int) -> dict[str, object]:
    return {
        "lead_id": lead_id,
        "outcome": "routed",
        "profile": "acme",
        "tier": "all",
        "deliveries": [
            {
                "delivery_id": f"{lead_id}-0",
                "partner": PARTNERS[n % 3],
                "price": 25.0,
                "currency": "USD",
            }
        ],
        "trace": "[]",
        "rules_version": "1",
        "source": {"topic": "leads", "partition": 0, "offset": n},
        "decided_at": T0.replace(minute=n % 60),
    }


def receipt(lead_id: str, n: int) -> dict[str, object]:
    return {
        "delivery_id": f"{lead_id}-0",
        "lead_id": lead_id,
        "partner": PARTNERS[n % 3],
        "status": "delivered",
        "at": T0,
        "price": 25.0,
        "currency": "USD",
        "revenue": 25.0,
    }


class Publisher:
    """Writes records in Kafka transactions, as the processor and the workers do."""

    def __init__(self, settings: Settings, unique: str) -> None:
        self.settings = settings
        self.codec = Codec()
        self.producer: Producer = clients.transactional_producer(settings.kafka, f"pub-{unique}")
        self.producer.init_transactions(30)

    def transaction(self, prefix: str, count: int, *, commit: bool = True) -> None:
        topics = self.settings.topics
        self.producer.begin_transaction()
        for n in range(count):
            lead = f"{prefix}-{n}"
            value = self.codec.encode(topics.audit_topic, "RoutingDecision", decision(lead, n))
            self.producer.produce(topics.audit_topic, value, lead.encode(), partition=n % 2)
            if n % 2 == 0:
                value = self.codec.encode(
                    topics.receipts_topic, "DeliveryReceipt", receipt(lead, n)
                )
                self.producer.produce(topics.receipts_topic, value, f"{lead}-0".encode())
            if n % 10 == 0:
                headers = [
                    (ERROR_HEADER, b"invalid-lead"),
                    (SOURCE_HEADERS[0], b"leads"),
                    (SOURCE_HEADERS[1], b"0"),
                    (OFFSET_HEADER, str(n).encode()),
                ]
                self.producer.produce(topics.dlq_topic, b"the lead", lead.encode(), headers=headers)
        if commit:
            self.producer.commit_transaction(30)
        else:
            self.producer.flush(30)
            self.producer.abort_transaction(30)


def poll_until(indexer: Indexer, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, "the index did not get there in time"
        indexer.poll_once(0.2)


def end_offsets_of(
    settings: Settings, positions: dict[str, dict[int, int]]
) -> dict[str, dict[int, int]]:
    consumer = clients.reading_consumer(settings.kafka, "test-ends")
    try:
        return {
            topic: {
                partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1]
                for partition in partitions
            }
            for topic, partitions in positions.items()
        }
    finally:
        consumer.close()


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (decisions, receipts, dead_letters)
        )


def test_every_committed_record_is_indexed_once_across_a_restart(
    settings: Settings, engine: Engine, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_module, "REDISCOVER_S", 0.2)
    first = Indexer(settings, engine, batch=20)
    assert first.poll_once(0.2) == 0  # no topics yet: it waits, it does not fail
    topics = settings.topics
    TopicAdmin(settings).ensure(
        [
            TopicSpec(topics.audit_topic, 2),
            TopicSpec(topics.receipts_topic),
            TopicSpec(topics.dlq_topic),
        ]
    )
    publisher = Publisher(settings, unique)
    publisher.transaction("a", 60)
    publisher.transaction("aborted", 30, commit=False)
    publisher.transaction("c", 40)
    publisher.transaction("nul\x00", 1)  # PostgreSQL's text refuses NUL: it must not stop it

    poll_until(first, lambda: sum(counts(engine)) >= 40)
    first.close()  # stopped part way: its successor starts from the database's offsets
    assert counts(engine) != (101, 51, 11)

    second = Indexer(settings, engine, batch=20)
    poll_until(second, lambda: counts(engine) == (101, 51, 11))
    for _ in range(5):  # nothing more comes: the aborted transaction's records stay out
        second.poll_once(0.2)
    second.close()

    assert counts(engine) == (101, 51, 11)
    with engine.connect() as connection:
        leads = connection.execute(select(decisions.c.lead_id)).scalars().all()
    expected = [f"a-{n}" for n in range(60)] + [f"c-{n}" for n in range(40)] + ["nul\ufffd-0"]
    assert sorted(leads) == sorted(expected)
    status = index_status(engine)
    # Caught up, each partition stands at its end offset: past its last record and the marker
    # of the transaction that closed it, so the index's lag reads 0.
    ends = end_offsets_of(settings, status.positions)
    assert status.positions == ends

    found = search(engine, DecisionQuery(lead_id="c-7"))
    assert [(row.lead_id, row.deliveries[0].partner) for row in found] == [("c-7", "crm-west")]
    east = search(engine, DecisionQuery(partner="crm-east", limit=1_000))
    expected = {f"a-{n}" for n in range(0, 60, 3)} | {f"c-{n}" for n in range(0, 40, 3)}
    expected.add("nul\ufffd-0")
    assert {row.lead_id for row in east} == expected
    assert len(east) == len(expected)
    day = int(T0.timestamp()) // 86_400
    days = partner_days(engine, day, day)
    assert sum(d.decided for d in days) == 101
    assert sum(d.delivered for d in days) == 51
    assert sum(d.revenue["USD"] for d in days) == 51 * 25.0
