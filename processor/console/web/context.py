"""What every page of the console reads: settings, the index, the users, the rules in force."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from starlette.requests import Request

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


T = TypeVar("T")


def made_once(request: Request, name: str, make: Callable[[ConsoleContext], T]) -> T:
    """The application's ``name`` (a lead tester, the drafts table, a Kafka reader), made from the
    context on first use: most sessions open a page or two, so what a page alone needs is not
    built at start. Unit tests put their own in ``app.state`` first. Pages run on the event loop,
    one at a time between awaits, so two requests never make it twice."""
    made: T | None = getattr(request.app.state, name, None)
    if made is None:
        made = make(request.app.state.context)
        setattr(request.app.state, name, made)
    return made
