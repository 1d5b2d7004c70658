"""`lead-router console` on the test broker: serves once it has users and an index, sends the
anonymous to the sign-in page, creates its index, and ends on SIGTERM with exit 0."""

from __future__ import annotations

import sqlite3
import urllib.request
from pathlib import Path

import pytest
from consolekit import SERVING, running
from streamkit import apply_rules, settings_env

from processor.console.web.auth import hash_password
from processor.settings import Settings

pytestmark = pytest.mark.integration

DEMO_RULES = Path(__file__).parents[2] / "processor" / "demo" / "rules.yaml"


def test_the_console_serves_until_sigterm(stream_settings: Settings, tmp_path: Path) -> None:
    apply_rules(stream_settings, DEMO_RULES)
    index = tmp_path / "index.sqlite3"
    env = settings_env(stream_settings) | {
        "LEAD_ROUTER_CONSOLE_PORT": "0",
        "LEAD_ROUTER_CONSOLE_USERS": f"ana:editor:{hash_password('a password')}",
        "LEAD_ROUTER_CONSOLE_DATABASE_URL": f"sqlite:///{index}",
    }
    with running(["console"], env, tmp_path) as console:
        url = console.wait_for(SERVING, timeout=60)["url"]
        with urllib.request.urlopen(f"{url}/health", timeout=10) as page:
            assert page.url == f"{url}/login?next=%2Fhealth"
            assert page.status == 200 and b"<h1>Sign in</h1>" in page.read()
        assert console.terminate() == 0, console.stderr.read_text()[-3000:]
    with sqlite3.connect(index) as database:
        tables = {name for (name,) in database.execute("select name from sqlite_master")}
    assert {"decisions", "receipts", "dead_letters", "index_offsets"} <= tables
