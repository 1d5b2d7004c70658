"""The console's pages without Kafka: a fixed rules version, an in-memory index, two users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx import Response
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from processor.console.web.app import build_app
from processor.console.web.auth import LoginLimiter, Users, hash_password
from processor.console.web.context import ConsoleContext
from processor.control.records import VersionRecord
from processor.control.state import ConfigState
from processor.rules import Snapshot, compile_rules, load_rules
from processor.settings import Settings

DEMO_RULES = Path(__file__).parents[3] / "processor" / "demo" / "rules.yaml"
PASSWORDS = {"ana": "editor-password", "vic": "viewer-password"}


class StaticRules:
    """One rules version in force, as the console's rules watch would give it."""

    def __init__(self, text: str, version: str = "3") -> None:
        document = load_rules(text)
        self.snapshot: Snapshot | None = compile_rules(document, version)
        self.config = ConfigState(max_bytes=1_000_000)
        self.config.document = document
        self.config.in_force = VersionRecord(version, "sha256:0", 1, "2026-11-30T09:00:00Z")


@pytest.fixture(scope="session")
def users() -> Users:
    return Users.parse(
        f"ana:editor:{hash_password(PASSWORDS['ana'])}\nvic:viewer:{hash_password(PASSWORDS['vic'])}",
        "test users",
    )


@pytest.fixture
def context(users: Users) -> ConsoleContext:
    settings = Settings(console_login_attempts=3)
    return ConsoleContext(
        settings=settings,
        engine=create_engine("sqlite://"),
        users=users,
        rules=StaticRules(DEMO_RULES.read_text()),
        limiter=LoginLimiter(settings.console.console_login_attempts),
        secret_key="a key for tests only",
    )


@pytest.fixture
def client(context: ConsoleContext) -> Iterator[TestClient]:
    """A browser that has not signed in (HTTPS, as the session cookie is Secure)."""
    with TestClient(build_app(context), base_url="https://console.test") as client:
        yield client


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a form of ``path`` carries."""
    page = client.get(path).text
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def post_login(client: TestClient, name: str, password: str, then: str | None = None) -> Response:
    """The answer to the sign-in form, posted with the token its page carries."""
    data = {"username": name, "password": password, "csrf_token": csrf_of(client)}
    if then is not None:
        data["next"] = then
    return client.post("/login", data=data, follow_redirects=False)


def sign_in(client: TestClient, name: str) -> None:
    answer = post_login(client, name, PASSWORDS[name])
    assert answer.status_code == 303, answer.text


@pytest.fixture
def editor(client: TestClient) -> TestClient:
    sign_in(client, "ana")
    return client


@pytest.fixture
def viewer(client: TestClient) -> TestClient:
    sign_in(client, "vic")
    return client
