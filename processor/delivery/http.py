"""``https://`` and ``http://`` destinations: the payload POSTed as the request body.

The request carries the delivery id as ``Idempotency-Key`` so that an endpoint can drop a repeat
(the worker may send a delivery twice when it crashes between sending and recording it). A 2xx
answer delivers. 408, 425, 429 and 5xx answers, timeouts and connection errors are temporary and
retried. Any other answer, a redirect included, refuses the delivery: a POST is not followed to
another address, because most clients would turn it into a GET without the payload.

``DELIVERY_TIMEOUT_MS`` is a deadline for the whole request, from connecting to the answer's status
line and headers (:class:`~processor.delivery.deadline.Deadline`).
"""

from __future__ import annotations

from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

from processor import __version__
from processor.delivery.deadline import Deadline
from processor.delivery.outcome import Refused, Unavailable
from processor.delivery.parcel import Parcel
from processor.delivery.tls import client_context

TEMPORARY = frozenset({408, 425, 429})
"""Client-error statuses that say "not now" rather than "never"."""


class HttpDestination:
    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        try:
            self._port = parts.port
        except ValueError:
            raise Refused("not a valid URL: the port is not a port number") from None
        if not parts.hostname:
            raise Refused("not a valid URL: no host")
        self._host = parts.hostname
        self._secure = parts.scheme.lower() == "https"
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout_s = timeout_s

    def send(self, parcel: Parcel) -> str:
        connection: HTTPConnection = (
            HTTPSConnection(
                self._host,
                self._port,
                timeout=self._timeout_s,
                context=client_context(),
            )
            if self._secure
            else HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        )
        deadline = Deadline(self._timeout_s, lambda: connection.sock)
        try:
            with deadline:
                connection.request(
                    "POST",
                    self._target,
                    body=parcel.body,
                    headers={
                        "Content-Type": parcel.content_type,
                        "Idempotency-Key": parcel.delivery_id,
                        "User-Agent": f"lead-router/{__version__}",
                    },
                )
                status = connection.getresponse().status
        except (OSError, HTTPException) as error:
            if deadline.expired or isinstance(error, TimeoutError):
                raise Unavailable(f"no answer: timed out after {deadline.elapsed:.1f} s") from None
            raise Unavailable(f"no answer: {type(error).__name__}: {error}") from None
        finally:
            connection.close()
        answer = f"HTTP {status}"
        if 200 <= status < 300:
            return answer
        if status in TEMPORARY or status >= 500:
            raise Unavailable(answer)
        raise Refused(answer)
