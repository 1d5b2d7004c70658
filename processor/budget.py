"""A time budget for routing one lead: a lead that takes longer is dead-lettered as ``too-slow``.

RE2 makes every rule linear in the lead's size, so no lead should come near the budget; this is
the second line of defence, for what nobody foresaw. Leads of a partition are routed in order, so
one lead that never finishes would hold back every lead behind it, and a restart would meet it
again.

How it is enforced depends on the thread that routes:

- In the main thread (``lead-router run``), a ``SIGALRM`` timer interrupts the routing: the
  signal handler raises :class:`TooSlow` in the routing code at its next Python instruction. It
  cannot interrupt one C call that holds the interpreter (none in routing runs long: RE2 is
  linear, JSON and Avro encoding are bounded by the record limit); the exception comes as soon as
  that call returns.
- Elsewhere (the processor embedded in a thread, as ``demo`` does), signals cannot reach the
  routing thread, so the budget is checked when routing returns: the lead is dead-lettered all the
  same, but a routing that never returns is left to the stall watchdog.

In both cases a routing that finished over budget is ``too-slow``, so the outcome does not depend
on whether the timer or the check saw it first.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType


class TooSlow(BaseException):
    """Routing took longer than its budget.

    A ``BaseException``, like ``KeyboardInterrupt``: routing code that catches ``Exception`` to
    turn a bad value into an outcome must not swallow the interruption and carry on.
    """


class RoutingBudget:
    """Limits each ``with budget.limit():`` block to ``seconds``; raises :class:`TooSlow`.

    A context manager of its own rather than a generator, and whether it interrupts is settled at
    its first block: it runs once per lead, and costs two ``setitimer`` calls (about 2 µs).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._armed = False
        self._interrupts: bool | None = None
        self._started = 0.0

    @property
    def interrupts(self) -> bool:
        """Whether a block is interrupted on time, rather than checked once it returns."""
        return (
            hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        )

    def limit(self) -> RoutingBudget:
        if self._interrupts is None:
            self._interrupts = self.interrupts
            if self._interrupts:
                signal.signal(signal.SIGALRM, self._expired)
        return self

    def __enter__(self) -> None:
        self._started = time.monotonic()
        if self._interrupts:
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Disarmed first: a signal already on its way finds the handler disarmed and does
        # nothing, so it cannot interrupt whatever the thread does after the block.
        self._armed = False
        if self._interrupts:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed_ms = (time.monotonic() - self._started) * 1000
        if kind is None and elapsed_ms > self.seconds * 1000:
            raise TooSlow(f"routing took {elapsed_ms:.0f} ms, {self._over}")

    @property
    def _over(self) -> str:
        return f"more than its budget of {self.seconds * 1000:.0f} ms"

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._armed = False
            raise TooSlow(f"routing was stopped after taking {self._over}")
