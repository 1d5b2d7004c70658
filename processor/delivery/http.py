"""``https://`` and ``http://`` destinations: the payload POSTed as the request body.

The request carries the delivery id as ``Idempotency-Key`` so that an endpoint can drop a repeat
(the worker may send a delivery twice when it crashes between sending and recording it). A 2xx
answer delivers. 408, 425, 429 and 5xx answers, timeouts and connection errors are temporary and
retried. Any other answer, a redirect included, refuses the delivery: a POST is not followed to
another address, because most clients would turn it into a GET without the payload.
"""

from __future__ import annotations

import urllib.request
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from processor import __version__
from processor.delivery.outcome import Refused, Unavailable
from processor.delivery.parcel import Parcel

TEMPORARY = frozenset({408, 425, 429})
"""Client-error statuses that say "not now" rather than "never"."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx answer then raises HTTPError, which refuses the delivery


_OPENER = urllib.request.build_opener(_NoRedirects)


class HttpDestination:
    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (read for its check: a port that is not a number raises)
        except ValueError:
            raise Refused("not a valid URL: the port is not a port number") from None
        if not parts.hostname:
            raise Refused("not a valid URL: no host")
        self._url = url
        self._timeout_s = timeout_s

    def send(self, parcel: Parcel) -> str:
        try:
            request = urllib.request.Request(
                self._url,
                data=parcel.body,
                method="POST",
                headers={
                    "Content-Type": parcel.content_type,
                    "Idempotency-Key": parcel.delivery_id,
                    "User-Agent": f"lead-router/{__version__}",
                },
            )
            with _OPENER.open(request, timeout=self._timeout_s) as response:
                return f"HTTP {response.status}"
        except HTTPError as error:
            error.close()
            answer = f"HTTP {error.code}"
            if error.code in TEMPORARY or error.code >= 500:
                raise Unavailable(answer) from None
            raise Refused(answer) from None
        except URLError as error:  # before OSError: it is one, and says more in its reason
            raise Unavailable(f"no answer: {error.reason}") from None
        except (OSError, HTTPException) as error:
            raise Unavailable(f"no answer: {type(error).__name__}: {error}") from None
