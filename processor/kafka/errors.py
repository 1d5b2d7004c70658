"""Which Kafka errors are worth a retry, and which end the process: one definition for all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from confluent_kafka import KafkaError, KafkaException, Message
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

# Errors of a cluster in motion (a topic created a moment ago, a leader moving, a coordinator
# loading) that librdkafka does not always flag as retriable.
_TRANSIENT_CODES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)


def transient(error: BaseException) -> bool:
    """True for a Kafka error that the same call may get past later; never for one that requires
    aborting the transaction or that is fatal."""
    if not isinstance(error, KafkaException):
        return False
    kafka_error = error.args[0]
    if kafka_error.fatal() or kafka_error.txn_requires_abort():
        return False
    return bool(kafka_error.retriable()) or kafka_error.code() in _TRANSIENT_CODES


def retry_transient(seconds: float) -> Callable[[F], F]:
    """A tenacity decorator: retries transient Kafka errors with backoff for up to ``seconds``."""
    decorator = retry(
        retry=retry_if_exception(transient),
        wait=wait_exponential(multiplier=0.05, max=2),
        stop=stop_after_delay(seconds),
        reraise=True,
    )
    return cast(Callable[[F], F], decorator)


class FatalError(Exception):
    """A client cannot go on (fenced by a newer instance, a broker refusing it): exit."""


def consumed(message: Message) -> bool:
    """Whether ``message`` is a record to handle. A consumer error in its place is logged and
    passed over, unless it is fatal: then :class:`FatalError`."""
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise FatalError(f"consumer: {error.str()}")
    log.warning("consumer: %s", error.str())
    return False


def is_fatal(exc: KafkaException) -> bool:
    """Whether the producer can do nothing more, most often because a newer instance with its
    transactional id fenced it. ``produce`` says so with the plain code _FATAL, not flagged
    fatal; the reason is in librdkafka's log."""
    error = exc.args[0]
    return bool(error.fatal() or error.code() == KafkaError._FATAL)
