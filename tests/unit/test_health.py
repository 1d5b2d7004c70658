"""/healthz tells a stuck processor from a working one, and a stuck processor ends itself;
/readyz tells it is routing."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from processor import metrics
from processor.app import STALLED_EXIT_CODE, App
from processor.settings import Settings


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
    server = metrics.serve(0, lambda: False, heartbeat.alive, host="127.0.0.1")
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


def test_a_stalled_processor_ends_itself_for_its_supervisor_to_restart(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One stage's loop stalled is enough, though the other still comes round."""
    app = App(Settings(bootstrap_servers="127.0.0.1:9", metrics_port=0, stall_timeout_s=300))
    # The loops' last rounds, on a clock we move.
    app._heartbeats = {name: metrics.Heartbeat(300, clock) for name in ("match", "decide")}
    exits: list[int] = []

    def exit_now(code: int) -> None:
        exits.append(code)
        app.stop()  # os._exit would not return; ending the watch loop stands in for it

    monkeypatch.setattr("processor.app.os._exit", exit_now)
    clock.now += 300
    app._heartbeats["match"].beat()
    app._watch()
    assert exits == [STALLED_EXIT_CODE]


def test_a_stalled_processor_says_what_stalled(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Routing one record for five minutes is not waiting on Kafka: the log tells them apart."""
    app = App(Settings(bootstrap_servers="127.0.0.1:9", metrics_port=0, stall_timeout_s=300))
    app._heartbeats = {name: metrics.Heartbeat(300, clock) for name in ("match", "decide")}
    monkeypatch.setattr("processor.app.os._exit", lambda code: app.stop())
    clock.now += 5
    app._heartbeats["decide"].stage("routing the record at %s[%s]@%s", "lead-router.decide", 0, 12)
    clock.now += 296
    app._heartbeats["match"].beat()
    app._watch()
    assert "the decide loop has not come round" in caplog.text
    assert "it has been routing the record at lead-router.decide[0]@12 for 296 s" in caplog.text
