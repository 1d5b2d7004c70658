"""A crashed worker's partitions go to its restarted self (or another worker) once the configured
session has timed out, as a processor's do, not after librdkafka's own 45 s."""

from __future__ import annotations

from typing import Any

import pytest

from processor.control import follower
from processor.delivery.worker import Worker
from processor.kafka import clients
from processor.settings import Settings


class Idle:
    """A client the constructor only keeps."""

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("session_ms", "heartbeat_ms"), [(6000, 2000), (45000, 3000)])
def test_the_worker_consumer_keeps_the_configured_session(
    monkeypatch: pytest.MonkeyPatch, session_ms: int, heartbeat_ms: int
) -> None:
    given: list[dict[str, Any]] = []

    def consumer(kafka: Any, group: str, config: dict[str, Any]) -> Idle:
        given.append(config)
        return Idle()

    monkeypatch.setattr(clients, "consumer", consumer)
    monkeypatch.setattr(clients, "transactional_producer", lambda *args, **kwargs: Idle())
    monkeypatch.setattr(follower, "reading_consumer", lambda *args, **kwargs: Idle())

    Worker(Settings(session_timeout_ms=session_ms), "p")

    [config] = given
    assert (config["session.timeout.ms"], config["heartbeat.interval.ms"]) == (
        session_ms,
        heartbeat_ms,
    )
    assert config["queued.min.messages"] == 50, "the read-ahead bound stays"
