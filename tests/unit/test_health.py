"""/healthz tells a stuck processor from a working one; /readyz tells it is routing."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from processor import metrics


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def heartbeat(clock: Clock) -> metrics.Heartbeat:
    return metrics.Heartbeat(300, clock)


@pytest.fixture
def port(heartbeat: metrics.Heartbeat) -> Iterator[int]:
    server = metrics.serve(0, lambda: False, heartbeat.alive)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_alive_while_the_loop_comes_round(
    clock: Clock, heartbeat: metrics.Heartbeat, port: int
) -> None:
    clock.now += 299
    assert status(port, "/healthz") == 200
    heartbeat.beat()
    clock.now += 299
    assert status(port, "/healthz") == 200


def test_stalled_once_the_loop_has_not_come_round_for_the_timeout(clock: Clock, port: int) -> None:
    clock.now += 300
    assert status(port, "/healthz") == 503
    assert status(port, "/readyz") == 503  # readiness is its own question
    assert status(port, "/metrics") == 200  # and the metrics still tell what happened
