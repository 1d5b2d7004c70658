"""Caps' use now, for the Routing page: routing's state read from its changelog, kept a few seconds.

Reading the state topic to its end takes a round of requests to the broker per partition, and a
broker away would hold a page until its timeout; so the read is bounded (``timeout``), its result
(or why it failed) is kept ``keep_s`` seconds for every page that asks meanwhile, and a failure
is shown as "use unknown: <why>" rather than failing the page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from processor.errors import UserError
from processor.rules import Ledger, Snapshot
from processor.rules.ledger import MemoryStore
from processor.settings import Settings
from processor.state.reader import read_state
from processor.state.report import StateReport, state_report

READ_TIMEOUT_S = 5.0
KEEP_S = 10.0

Reader = Callable[[Settings, float], dict[int, MemoryStore]]


class RoutingState:
    """The state report at a moment, from a copy of routing's state at most ``keep_s`` old."""

    def __init__(
        self, read: Reader = read_state, timeout: float = READ_TIMEOUT_S, keep_s: float = KEEP_S
    ) -> None:
        self._read = read
        self._timeout = timeout
        self._keep_s = keep_s
        self._lock = threading.Lock()
        self._kept: tuple[float, list[Ledger] | str] | None = None

    def report(
        self, settings: Settings, snapshot: Snapshot, at: datetime
    ) -> tuple[StateReport | None, str]:
        """The report at ``at``, or None and why it could not be made. Blocks while reading:
        call it from a worker thread."""
        ledgers = self._ledgers(settings)
        if isinstance(ledgers, str):
            return None, ledgers
        return state_report(snapshot, ledgers, at), ""

    def _ledgers(self, settings: Settings) -> list[Ledger] | str:
        with self._lock:  # one read at a time; those who waited take its result
            now = time.monotonic()
            if self._kept is not None and now - self._kept[0] < self._keep_s:
                return self._kept[1]
            found: list[Ledger] | str
            try:
                stores = self._read(settings, self._timeout)
                found = [Ledger(stores[partition]) for partition in sorted(stores)]
            except UserError as error:
                found = str(error)
            except Exception as error:  # the page shows the caps without their use, and why
                found = f"routing state could not be read ({type(error).__name__})"
            self._kept = (time.monotonic(), found)
            return found
