"""`lead-router console`: the password hashes its users file needs, and the refusals before it
serves anything."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from processor.cli import main
from processor.console.web.auth import hash_password


@pytest.fixture(autouse=True)
def _no_console_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own LEAD_ROUTER_CONSOLE_* variables must not decide these tests."""
    for name in ("USERS", "USERS_FILE", "DATABASE_URL", "PORT"):
        monkeypatch.delenv(f"LEAD_ROUTER_CONSOLE_{name}", raising=False)


@pytest.fixture
def one_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_ROUTER_CONSOLE_USERS", f"ana:editor:{hash_password('pw')}")


def test_hash_password_prints_an_argon2_hash_of_the_line_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\nsecond line\n"))
    assert main(["console", "--hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("$argon2id$")
    assert PasswordHasher().verify(printed, "correct horse")


def test_hash_password_refuses_an_empty_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["console", "--hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no password on standard input" in captured.err


def test_a_console_without_users_refuses_to_start_and_says_how_to_add_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["console", "--console-port", "0"]) == 1
    err = capsys.readouterr().err
    assert "nobody could sign in" in err and "--hash-password" in err


def test_a_users_file_with_a_plain_password_is_refused_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("# the operators\nana:editor:hunter2\n")
    assert main(["console", "--console-users-file", str(users)]) == 1
    err = capsys.readouterr().err
    assert f"{users}: entry 2: ana: the password must be an argon2 hash" in err
    assert "hunter2" not in err


@pytest.mark.usefixtures("one_user")
def test_a_database_url_of_another_kind_is_refused_before_serving(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["console", "--console-database-url", "mysql://u:secret@db/x"])
    err = capsys.readouterr().err
    assert code == 1
    assert "is not one the console can use" in err and "secret" not in err


@pytest.mark.usefixtures("one_user")
def test_a_port_in_use_is_refused_with_the_setting_to_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(
            [
                "console",
                "--console-port",
                str(port),
                "--console-database-url",
                f"sqlite:///{tmp_path / 'index.sqlite3'}",
            ]
        )
    assert code == 4
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_other_commands_start_without_the_web_stack_and_the_index() -> None:
    """`lead-router console` and the demo import them when they serve: every other command
    would take ~0.5 s longer to start."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, processor.cli; "
            "print(sorted({'starlette', 'uvicorn', 'sqlalchemy', 'jinja2'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert loaded.stdout.strip() == "[]"
