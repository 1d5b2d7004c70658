"""Fixtures of the integration tests: a local HTTP endpoint and a mail server for those that
deliver, a PostgreSQL server for the console's index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deliverykit import Endpoint, Mailbox, endpoint, mailbox

from benchmarks.pgkit import NoPostgres, postgres, server_bin


@pytest.fixture
def http() -> Iterator[Endpoint]:
    with endpoint() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    with mailbox() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of an empty database on a PostgreSQL server shared by the whole test run. A machine
    without PostgreSQL's server programs fails the tests that need it, saying how to install
    them: `make test` installs them, so a skip would hide a broken set-up."""
    try:
        server_bin()
    except NoPostgres as missing:
        pytest.fail(str(missing))
    with postgres({"fsync": "off", "synchronous_commit": "off"}) as url:
        yield url
