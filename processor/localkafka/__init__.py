"""A real Apache Kafka broker that lead-router starts itself for tests and the demo: no Docker."""

from processor.localkafka.broker import AlreadyRunning, BrokerState, EmbeddedKafka, free_port
from processor.localkafka.jars import KAFKA_VERSION

__all__ = ["KAFKA_VERSION", "AlreadyRunning", "BrokerState", "EmbeddedKafka", "free_port"]
