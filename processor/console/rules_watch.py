"""The rules in force, kept current for the console's pages by a thread following the config topic.

The console judges the config topic as processors do (:class:`~processor.control.follower.
RulesFollower`), so the version it shows in force is the one routing uses, and a refused version
is shown as refused.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from processor.control.follower import Refusal, RulesFollower
from processor.control.state import ConfigState
from processor.rules import Snapshot
from processor.settings import Settings

log = logging.getLogger(__name__)

REFUSALS_SHOWN = 50


@dataclass(frozen=True)
class RefusalSeen:
    """A refused version and when the console saw it refused."""

    refusal: Refusal
    at: datetime


class RulesWatch:
    """Follows the config topic in a thread of its own; pages read ``snapshot`` and ``config``."""

    def __init__(self, settings: Settings) -> None:
        self._follower = RulesFollower(settings, self._switched, self._refused)
        self.refusals: deque[RefusalSeen] = deque(maxlen=REFUSALS_SHOWN)
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="rules-watch", daemon=True)

    @property
    def snapshot(self) -> Snapshot | None:
        """The compiled rules in force (None before any version came in force)."""
        return self._follower.snapshot

    @property
    def config(self) -> ConfigState:
        return self._follower.config

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        # A thread still waiting on a broker that does not answer holds the consumer: closing it
        # there would wait as long. The thread is a daemon; it ends with the process.
        if not self._thread.is_alive():
            self._follower.close()

    def _follow(self) -> None:
        try:
            self._follower.catch_up()
        except Exception:  # a broker away at start-up: pages say so; polling goes on below
            log.exception("could not read the config topic to its end")
        self.caught_up.set()
        while not self._stop.is_set():
            try:
                self._follower.poll(1.0)
            except Exception:
                log.exception("reading the config topic")
                self._stop.wait(5)

    def _switched(self, snapshot: Snapshot) -> None:
        log.info("console: rules version %s in force", snapshot.version)

    def _refused(self, refusal: Refusal) -> None:
        self.refusals.append(RefusalSeen(refusal, datetime.now(UTC)))
