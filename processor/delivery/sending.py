"""One payload to one destination URI, retried with backoff while the failure is temporary.

The URI's scheme picks the destination (``https``/``http``, ``mailto``, ``file``); any other
scheme, like a refusal, ends in ``rejected`` without a try. Temporary failures are tried up to
``DELIVERY_ATTEMPTS`` times, waiting ``DELIVERY_BACKOFF_MS`` before the second try and twice as
long before each next one (at most 30 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from processor.delivery.files import FileDestination
from processor.delivery.http import HttpDestination
from processor.delivery.mail import MailDestination
from processor.delivery.outcome import Outcome, Refused, Unavailable
from processor.delivery.parcel import Parcel
from processor.settings import DeliverySettings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


class Destination(Protocol):
    def send(self, parcel: Parcel) -> str:
        """Sends the parcel and returns the answer (e.g. ``HTTP 200``); raises ``Refused`` or
        ``Unavailable``."""
        ...


def destination_for(uri: str, delivery: DeliverySettings) -> Destination:
    """The destination a URI names; ``Refused`` for a scheme the worker cannot send to."""
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:  # e.g. an unclosed bracket of an IPv6 address
        raise Refused("not a valid URI") from None
    if scheme in ("http", "https"):
        return HttpDestination(uri, delivery.delivery_timeout_ms / 1000)
    if scheme == "mailto":
        return MailDestination(uri, delivery)
    if scheme == "file":
        return FileDestination(uri, delivery.deliveries_dir)
    raise Refused(f"unsupported destination scheme {scheme!r}" if scheme else "not a URI")


def describe(uri: str) -> str:
    """The URI as receipts and logs show it: no credentials, query or fragment of a web address
    (they often hold tokens), and no mailbox names (they can name a person)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "(not a valid URI)"
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        host = parts.netloc.rpartition("@")[2]  # the host and port, without user and password
        return f"{scheme}://{host}{parts.path}"
    if scheme == "mailto":
        domains = [address.rpartition("@")[2] for address in parts.path.split(",") if address]
        return "mailto:" + ",".join(f"...@{domain}" for domain in domains)
    if scheme == "file":
        return uri
    return f"{scheme}:..." if scheme else "(not a URI)"


def send(
    uri: str, parcel: Parcel, delivery: DeliverySettings, sleep: Callable[[float], None]
) -> Outcome:
    """Sends ``parcel`` to ``uri`` with retries; ``sleep`` waits between tries.

    ``sleep`` may raise a ``BaseException`` to abandon the delivery (the worker does when it is
    asked to stop). Any other error is this worker's fault, not the destination's: it is logged and
    the outcome is ``failed``, so that one delivery that trips a bug does not stop the partner's
    other deliveries, and can be sent again once the bug is fixed.
    """
    where = describe(uri)
    attempts, answer = 0, ""

    def note_retry(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "delivery %s to %s: %s; try %d of %d in %.1f s",
            parcel.delivery_id,
            where,
            state.outcome.exception() if state.outcome else "?",
            state.attempt_number + 1,
            delivery.delivery_attempts,
            wait,
        )

    retrying = Retrying(
        retry=retry_if_exception_type(Unavailable),
        stop=stop_after_attempt(delivery.delivery_attempts),
        wait=wait_exponential(multiplier=delivery.delivery_backoff_ms / 1000, max=MAX_BACKOFF_S),
        sleep=sleep,
        before_sleep=note_retry,
        reraise=True,
    )
    try:
        destination = destination_for(uri, delivery)
        for attempt in retrying:
            with attempt:
                attempts += 1
                answer = destination.send(parcel)
    except Refused as refusal:
        return Outcome(where, "rejected", str(refusal), attempts)
    except Unavailable as failure:
        return Outcome(where, "failed", str(failure), attempts)
    except Exception as error:
        log.exception("delivery %s to %s: the worker failed", parcel.delivery_id, where)
        return Outcome(where, "failed", f"worker error: {type(error).__name__}", attempts)
    return Outcome(where, "delivered", answer, attempts)
