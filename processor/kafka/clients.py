"""Every Kafka client lead-router makes, from its settings: one place for servers and security.

A client's own settings (its group, its isolation level, its transactional id) are given by the
caller; what every client shares (bootstrap servers, security protocol, SASL and SSL, the log) is
added here, so no client can be made without them.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from processor.settings import KafkaSettings

CLIENT_LOG = logging.getLogger("librdkafka")
"""librdkafka's own messages (reconnects, retries) go through logging, at the configured level."""

Config = dict[str, Any]
"""librdkafka settings by their own names (``{"fetch.wait.max.ms": 100}``)."""

KNOWN_BROKERS_ONLY = {"metadata.recovery.strategy": "none"}
"""For clients in transactions: no re-bootstrap when every known broker is down (a one-broker
cluster restarting, a whole cluster restarting). Re-bootstrapping decommissions the known brokers,
and librdkafka then waits forever, past its timeout, in send_offsets_to_transaction for the group
coordinator it had cached. The known brokers are tried until they answer again."""


def common_config(kafka: KafkaSettings) -> dict[str, Any]:
    """The librdkafka settings every client shares: servers and security."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
        "logger": CLIENT_LOG,
    }
    password = kafka.sasl_password
    optional = {
        "sasl.mechanism": kafka.sasl_mechanism,
        "sasl.username": kafka.sasl_username,
        "sasl.password": password.get_secret_value() if password else None,
        "ssl.ca.location": kafka.ssl_ca_location,
        "ssl.certificate.location": kafka.ssl_certificate_location,
        "ssl.key.location": kafka.ssl_key_location,
    }
    return config | {key: str(value) for key, value in optional.items() if value is not None}


def consumer(
    kafka: KafkaSettings, group: str, config: Config | None = None, *, transactional: bool = False
) -> Consumer:
    """A consumer of ``group`` that commits nothing by itself and reads only committed records,
    from the beginning of a partition the group has no offset for; ``config`` adds or overrides
    librdkafka settings.
    ``transactional``: its offsets are sent in a producer's transactions (``KNOWN_BROKERS_ONLY``).
    """
    return Consumer(
        common_config(kafka)
        | (KNOWN_BROKERS_ONLY if transactional else {})
        | {
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
        | (config or {})
    )


def group_session(kafka: KafkaSettings) -> Config:
    """How soon a group member that stopped heartbeating (a crash) loses its partitions: the
    configured session, heartbeats at the usual third of it, never rarer than librdkafka's 3 s."""
    return {
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": min(3000, kafka.session_timeout_ms // 3),
    }


def reading_consumer(kafka: KafkaSettings, purpose: str) -> Consumer:
    """A read_committed consumer that assigns partitions itself (its group only names it)."""
    # A new rules version should reach the processors within a fraction of a second.
    return consumer(kafka, f"{kafka.group_id}-{purpose}", {"fetch.wait.max.ms": 100})


def producer(kafka: KafkaSettings, config: Config | None = None) -> Producer:
    """A plain (idempotent by librdkafka's default, not transactional) producer."""
    return Producer(common_config(kafka) | (config or {}))


def transactional_producer(
    kafka: KafkaSettings, transactional_id: str, config: Config | None = None
) -> Producer:
    """A transactional producer with this id.

    Right after a commit the broker is still writing the transaction's markers, and answers
    the next transaction's first request (adding partitions or offsets) with
    CONCURRENT_TRANSACTIONS until it is done: a few milliseconds. librdkafka retries after
    ``retry.backoff.ms``, 100 ms by default, so every transaction would stand still for about
    100 ms; measured on one partition, that capped an exactly-once copy at 10,000 records/s
    against 60,000 with a 5 ms backoff. The backoff still doubles on repeated failures, up
    to 50 ms.

    Records in a transaction are seen by read_committed readers only once it commits, so
    lingering costs them nothing until the commit, which sends what is left anyway. Half the
    commit interval lets the client fill one batch per partition, instead of sending a record
    at a time to each of the hundreds of partner topic partitions a transaction touches.
    """
    return Producer(
        common_config(kafka)
        | KNOWN_BROKERS_ONLY
        | {
            "transactional.id": transactional_id,
            "transaction.timeout.ms": kafka.transaction_timeout_ms,
            "retry.backoff.ms": 5,
            "retry.backoff.max.ms": 50,
            "linger.ms": max(5, kafka.commit_interval_ms // 2),
        }
        | (config or {})
    )


def admin(kafka: KafkaSettings, config: Config | None = None) -> AdminClient:
    """An admin client (topics, metadata)."""
    return AdminClient(common_config(kafka) | (config or {}))
