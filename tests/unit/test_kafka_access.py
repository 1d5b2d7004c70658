"""Brokers that never answer end a command with exit code 4 and the reason, not a traceback.

(Refused credentials are tested on a real broker: tests/integration/test_kafka_authentication.py.)
"""

from __future__ import annotations

import time

import pytest

from processor.errors import ServiceUnavailable
from processor.kafka.access import check_access
from processor.localkafka import free_port
from processor.settings import Settings


def test_brokers_that_never_answer_end_the_check_at_its_timeout_saying_why() -> None:
    settings = Settings(bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="did not answer within 2 s") as raised:
        check_access(settings.kafka, timeout=2.0)
    assert raised.value.exit_code == 4
    assert "Connection refused" in str(raised.value)
    assert time.monotonic() - started < 30  # its own timeout, not a client's default
