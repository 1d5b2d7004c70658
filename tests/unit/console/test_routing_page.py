"""The Routing page from the demo's rules: conditions in words, tiers in order, caps' use."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.testclient import TestClient

from processor.console.routing_state import RoutingState
from processor.console.web.context import ConsoleContext
from processor.rules.ledger import MemoryStore


def _no_state(settings: object, timeout: float) -> dict[int, MemoryStore]:
    return {}


def test_show(editor: TestClient) -> None:
    editor.app.state.routing_state = RoutingState(_no_state)  # type: ignore[attr-defined]
    page = editor.get("/routing")
    print(page.text)
