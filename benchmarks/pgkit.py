"""A throwaway PostgreSQL server from the distribution's packages, for tests and benchmarks.

The console's index runs on PostgreSQL in shared deployments; its tests and its benchmark run
against a real server rather than a look-alike. ``initdb`` makes a cluster in a fresh folder,
``postgres`` serves it on a free loopback port, and the folder is removed when done. Both refuse
to run as root, so under root (CI) they run as the ``postgres`` system user that the packages
create, in a folder given to it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

INSTALL = "install PostgreSQL's server, e.g. `apt-get install postgresql` (Debian, Ubuntu)"
SERVICE_USER = "postgres"
USER = "lead"
DATABASE = "index"
START_TIMEOUT_S = 60


class NoPostgres(RuntimeError):
    """No PostgreSQL server programs on this machine."""


def server_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``pg_config --bindir`` when it has them (the
    client package alone installs pg_config without them), else the newest
    /usr/lib/postgresql/*/bin."""
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        answer = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        found.append(Path(answer.stdout.strip()))
    newest_first = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    found += map(Path, newest_first)
    for folder in found:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise NoPostgres(f"no PostgreSQL server programs (initdb, pg_ctl) found: {INSTALL}")


def _version(folder: str) -> int:
    number = Path(folder).parent.name
    return int(number) if number.isdigit() else 0


@contextmanager
def postgres(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """A running server with an empty database; yields its URL (``postgresql://...``) and
    stops the server and removes its folder on leaving. ``settings`` are server settings
    (``{"fsync": "off"}``)."""
    programs = server_bin()
    folder = Path(tempfile.mkdtemp(prefix="lead-router-pg-"))
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, SERVICE_USER, SERVICE_USER)
    data = folder / "data"

    def run(*command: str) -> None:
        wrapped = ["runuser", "-u", SERVICE_USER, "--", *command] if as_root else list(command)
        done = subprocess.run(wrapped, cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            log = folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()}\n{tail}")

    port = _free_port()
    options = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(folder),
        **(settings or {}),
    }
    try:
        run(
            str(programs / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        run(
            str(programs / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            " ".join(f"-c {k}={v}" for k, v in options.items()),
            "start",
        )
        try:
            server = f"postgresql://{USER}@127.0.0.1:{port}"
            with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {DATABASE}")
            yield f"{server}/{DATABASE}"
        finally:
            run(str(programs / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
