"""Finding PostgreSQL's server programs for the index's tests and benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import pgkit


def test_without_server_programs_it_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_only = tmp_path / "bin"
    client_only.mkdir()
    (client_only / "pg_config").write_text(f"#!/bin/sh\necho {client_only}\n")
    (client_only / "pg_config").chmod(0o755)
    monkeypatch.setenv("PATH", str(client_only))
    monkeypatch.setattr(pgkit.glob, "glob", lambda pattern: [])
    with pytest.raises(pgkit.NoPostgres, match="apt-get install postgresql"):
        pgkit.server_bin()


def test_the_newest_packaged_server_is_taken_when_pg_config_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9", "15", "13"):
        programs = tmp_path / version / "bin"
        programs.mkdir(parents=True)
        (programs / "initdb").touch()
        (programs / "pg_ctl").touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(
        pgkit.glob, "glob", lambda pattern: [str(tmp_path / v / "bin") for v in ("9", "15", "13")]
    )
    assert pgkit.server_bin() == tmp_path / "15" / "bin"
