"""The demo's last step: the console on the demo's broker, to search its leads in a browser.

Two users are made on the spot, an editor and a viewer, with random passwords printed once: the
demo leaves no users file behind, and a console left running on a shared machine is not open to
anyone who read this code. The index lives in a temporary folder that goes with the demo.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
from pathlib import Path

from pydantic import SecretStr

from processor.console.serve import serve
from processor.console.web.auth import Users, hash_password
from processor.localkafka import free_port
from processor.settings import Settings

PREFERRED_PORT = 8080
EDITOR = "demo"
VIEWER = "viewer"


def serve_console(settings: Settings) -> None:
    """Serves the console until Ctrl-C or SIGTERM; prints its address and logins as the last
    lines once it answers."""
    passwords = {name: secrets.token_urlsafe(9) for name in (EDITOR, VIEWER)}
    users = Users.parse(
        "\n".join(
            f"{name}:{role}:{hash_password(passwords[name])}"
            for name, role in ((EDITOR, "editor"), (VIEWER, "viewer"))
        ),
        "the demo's users",
    )

    def ready(url: str) -> None:
        # Plain lines, never wrapped: people copy the password, and scripts read them.
        print(
            f"Console: {url}  sign in as {EDITOR} / {passwords[EDITOR]} (editor) "
            f"or {VIEWER} / {passwords[VIEWER]} (viewer)",
            flush=True,
        )
        print("Ctrl-C ends the demo.", flush=True)

    with tempfile.TemporaryDirectory(prefix="lead-router-console-") as folder:
        serve(_console_settings(settings, Path(folder)), users=users, on_ready=ready)


def _console_settings(settings: Settings, folder: Path) -> Settings:
    """The console's port (the setting, else 8080 when free, else any free one) and its index
    in ``folder`` unless a database was named."""
    given = settings.console.model_fields_set
    changes: dict[str, object] = {}
    if "console_port" not in given:
        changes["console_port"] = PREFERRED_PORT if _free(PREFERRED_PORT) else free_port()
    if "console_database_url" not in given:
        changes["console_database_url"] = SecretStr(f"sqlite:///{folder / 'console.sqlite3'}")
    return settings.with_changes(**changes)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
