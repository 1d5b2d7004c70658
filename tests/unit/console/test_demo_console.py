"""Where the demo's console listens and keeps its index."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from processor.demo import console
from processor.settings import Settings


def test_port_8080_when_free_and_the_index_in_the_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "_free", lambda port: True)
    chosen = console._console_settings(Settings(), tmp_path).console
    assert chosen.console_port == 8080
    url = chosen.console_database_url
    assert url is not None and url.get_secret_value() == f"sqlite:///{tmp_path}/console.sqlite3"


def test_another_port_when_8080_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert not console._free(port)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(console, "PREFERRED_PORT", port)
            chosen = console._console_settings(Settings(), tmp_path).console
    assert chosen.console_port not in (port, 0)


def test_the_port_and_database_given_are_kept(tmp_path: Path) -> None:
    given = Settings(console_port=9123, console_database_url="sqlite:////srv/index.sqlite3")
    chosen = console._console_settings(given, tmp_path).console
    assert chosen.console_port == 9123
    url = chosen.console_database_url
    assert url is not None and url.get_secret_value() == "sqlite:////srv/index.sqlite3"
