"""Whether the brokers let a command in: checked once, before anything else talks to them.

librdkafka treats refused credentials like a broken connection: it retries, and its blocking
calls (metadata, ``init_transactions``) end at their timeout with "Broker transport failure" or
"Timed out". The refusal itself (``_AUTHENTICATION``) reaches only the client's ``error_cb``, and
only while the client is polled. So each command that talks to Kafka first polls one client until
the brokers answer or refuse, and a wrong password ends it at once, saying so.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException

from processor.errors import AuthenticationFailed, ServiceUnavailable
from processor.kafka import clients
from processor.settings import ENV_PREFIX, KafkaSettings

_ATTEMPT_S = 0.5


def check_access(kafka: KafkaSettings, timeout: float | None = None) -> None:
    """Returns once the brokers answer a metadata request with these settings.

    Raises ``AuthenticationFailed`` as soon as they refuse the credentials, and
    ``ServiceUnavailable`` when they have not answered within ``timeout`` (by default the
    ``ANSWER_TIMEOUT_S`` setting).
    """
    timeout = kafka.answer_timeout_s if timeout is None else timeout
    told = _Told()
    admin = clients.admin(kafka, {"error_cb": told})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=max(0.1, min(_ATTEMPT_S, deadline - time.monotonic())))
            return
        except KafkaException as exception:
            last = exception.args[0]
        admin.poll(0)  # serves error_cb, the only place a refusal is told
        if told.refusal is not None:
            raise AuthenticationFailed(_refusal(kafka, told.refusal))
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(
                f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout:.0f} s: "
                f"{(told.latest or last).str()}"
            )


class _Told:
    """What the client's error_cb told: a refusal of the credentials, and the latest other error
    but "all brokers are down", which says less than the error that brought them down."""

    def __init__(self) -> None:
        self.refusal: KafkaError | None = None
        self.latest: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            self.refusal = error
        elif error.code() != KafkaError._ALL_BROKERS_DOWN:
            self.latest = error


def _refusal(kafka: KafkaSettings, error: KafkaError) -> str:
    """What to tell about refused credentials: the mechanism and user name, never the password."""
    who = ""
    if kafka.security_protocol.startswith("SASL"):
        user = f"user {kafka.sasl_username!r}" if kafka.sasl_username else "no user name"
        who = f" (SASL {kafka.sasl_mechanism or 'GSSAPI'} as {user})"
    return (
        f"authentication failed: Kafka at {kafka.bootstrap_servers} refused the credentials"
        f"{who}: {error.str()}; check --sasl-username and --sasl-password "
        f"({ENV_PREFIX}SASL_USERNAME, {ENV_PREFIX}SASL_PASSWORD)"
    )
