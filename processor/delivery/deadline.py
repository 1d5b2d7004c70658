"""A deadline for a whole exchange with a server, not for each socket read.

A socket timeout bounds each read: a server that sends one byte a second never trips it, and
holds the worker for as long as it likes. :class:`Deadline` shuts the connection's socket when the
time is up, which ends whatever read or write is under way with an error; the caller then reports a
timeout, since :attr:`Deadline.expired` says why the connection broke.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType


class Deadline:
    """``with Deadline(seconds, lambda: connection.sock):`` shuts that socket after ``seconds``.

    ``sock`` is asked for the socket only at the deadline: the connection may open it later.
    Connecting itself is bounded by the socket timeout, which callers set to the same time.
    """

    def __init__(self, seconds: float, sock: Callable[[], socket.socket | None]) -> None:
        self._sock = sock
        self._expired = threading.Event()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._started = 0.0

    @property
    def expired(self) -> bool:
        return self._expired.is_set()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _expire(self) -> None:
        self._expired.set()
        sock = self._sock()
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._started = time.monotonic()
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()
