"""Fixtures shared by every test: the Kafka broker and fresh topic names.

The broker is chosen as the contract's set-up section says: the cluster named by
``KAFKA_BOOTSTRAP_SERVERS`` when set; else a testcontainers Kafka when a Docker engine answers; else
the single-node broker lead-router starts itself from the Apache Kafka jars.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from processor.geo.fetch import GEO_DIR_ENV
from processor.localkafka import EmbeddedKafka
from processor.settings import Settings

# Hypothesis fails an example that takes longer than its deadline, 200 ms by default: a measure of
# this machine's load (the suite shares two cores with the broker), not of the code. Tests that
# mean to bound work bound what they can count.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

# A processor and dry-run use the IP database `lead-router geo fetch` left in the cache. The
# decisions these tests check must not change with what this machine fetched: they see none,
# and so do the processes they start, which inherit the variable.
os.environ[GEO_DIR_ENV] = os.path.join(
    tempfile.gettempdir(), f"lead-router-tests-{os.getpid()}-no-geo"
)
# State stores (RocksDB) of processors the tests start, and of the processes they start, go to a
# folder of this test session, not to the user's cache.
STATE_DIR = tempfile.mkdtemp(prefix="lead-router-tests-state-")
os.environ["LEAD_ROUTER_STATE_DIR"] = STATE_DIR


@pytest.fixture(scope="session", autouse=True)
def _state_dir_removed() -> Iterator[None]:
    """Removes the session's state stores when it ends."""
    yield
    shutil.rmtree(STATE_DIR, ignore_errors=True)


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # no engine, no socket, no client: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka broker for the whole test session."""
    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        yield explicit
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        with EmbeddedKafka(tmp_path_factory.mktemp("kafka")) as broker:
            yield broker.bootstrap_servers


@pytest.fixture
def unique() -> str:
    """A fresh suffix for topic and group names, so tests sharing one broker never meet."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def stream_settings(kafka_bootstrap: str, unique: str) -> Settings:
    """Settings of a processor on the test broker with topics and group of its own."""
    return _own_topics(kafka_bootstrap, unique)


@pytest.fixture(scope="module")
def module_stream_settings(kafka_bootstrap: str) -> Settings:
    """``stream_settings`` shared by a module's tests, for one long run they all look at."""
    return _own_topics(kafka_bootstrap, uuid.uuid4().hex[:12])


def _own_topics(kafka_bootstrap: str, unique: str) -> Settings:
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"group-{unique}",
        transactional_id=f"tx-{unique}",
        input_topic=f"leads-{unique}",
        config_topic=f"config-{unique}",
        config_history_topic=f"config-history-{unique}",
        audit_topic=f"audit-{unique}",
        unroutable_topic=f"unroutable-{unique}",
        dlq_topic=f"dlq-{unique}",
        returns_topic=f"returns-{unique}",
        delivery_topic_prefix=f"deliveries-{unique}.",
        decide_topic=f"decide-{unique}",
        state_topic=f"state-{unique}",
        metrics_port=0,
        commit_interval_ms=100,
        batch_size=200,
        topic_partitions=1,
    )
