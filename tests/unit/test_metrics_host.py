"""/metrics, /healthz and /readyz listen where METRICS_HOST says, loopback unless told otherwise."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import pytest

from processor import metrics
from processor.cli import build_parser
from processor.cli.options import settings_from_args
from processor.errors import InvalidInput
from processor.settings import Settings


@contextmanager
def serving(host: str) -> Iterator[ThreadingHTTPServer]:
    server = metrics.serve(0, lambda: True, lambda: True, host=host)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("host", "url_host"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_the_server_listens_on_the_host_given(host: str, url_host: str) -> None:
    with serving(host) as server:
        bound_host, port = server.socket.getsockname()[:2]
        assert bound_host == host
        with urllib.request.urlopen(f"http://{url_host}:{port}/readyz", timeout=5) as response:
            assert response.status == 200


def test_by_default_only_this_machine_reaches_it() -> None:
    assert Settings().metrics.metrics_host == "127.0.0.1"


def test_the_host_comes_from_its_flag_or_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ROUTER_METRICS_HOST", "0.0.0.0")
    assert Settings().metrics.metrics_host == "0.0.0.0"
    args = build_parser().parse_args(["run", "--metrics-host", "::"])
    assert settings_from_args(args).metrics.metrics_host == "::"


def test_an_address_not_of_this_machine_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="--metrics-host") as raised:
        metrics.serve(0, lambda: True, lambda: True, host="192.0.2.1")  # TEST-NET-1
    assert "192.0.2.1" in str(raised.value)
