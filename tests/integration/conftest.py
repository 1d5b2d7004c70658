"""Fixtures for tests of the stream processor on the real broker: each test its own topics."""

from __future__ import annotations

import pytest

from processor.settings import Settings


@pytest.fixture
def stream_settings(kafka_bootstrap: str, unique: str) -> Settings:
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"group-{unique}",
        transactional_id=f"tx-{unique}",
        input_topic=f"leads-{unique}",
        config_topic=f"config-{unique}",
        audit_topic=f"audit-{unique}",
        unroutable_topic=f"unroutable-{unique}",
        dlq_topic=f"dlq-{unique}",
        delivery_topic_prefix=f"deliveries-{unique}.",
        state_topic=f"rotation-{unique}",
        metrics_port=0,
        commit_interval_ms=100,
        batch_size=200,
        topic_partitions=1,
    )
