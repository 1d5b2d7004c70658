"""What every page of the console reads: settings, the index, the users, the rules in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine

from processor.console.web.auth import LoginLimiter, Users
from processor.control.state import ConfigState
from processor.rules import Snapshot
from processor.settings import Settings


class RulesInForce(Protocol):
    """The rules as the config topic has them now (:class:`processor.console.rules_watch.
    RulesWatch` in the console; a fixed snapshot in unit tests of pages)."""

    @property
    def snapshot(self) -> Snapshot | None: ...

    @property
    def config(self) -> ConfigState: ...


@dataclass
class ConsoleContext:
    """Made once when the console starts; pages find it as ``request.app.state.context``."""

    settings: Settings
    engine: Engine
    users: Users
    rules: RulesInForce
    limiter: LoginLimiter
    secret_key: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
