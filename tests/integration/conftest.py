"""Fixtures of the integration tests that deliver: a local HTTP endpoint and a mail server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deliverykit import Endpoint, Mailbox, endpoint, mailbox


@pytest.fixture
def http() -> Iterator[Endpoint]:
    with endpoint() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    with mailbox() as server:
        yield server
