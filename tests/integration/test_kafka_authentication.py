"""Refused credentials end every command that talks to Kafka at once, saying so, with exit code 4.

A broker of its own for this module takes SASL/PLAIN logins from one user only. With a wrong
password, librdkafka alone would retry until a metadata request timed out after 30 s and report a
"Broker transport failure".
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from samples import RULES
from streamkit import settings_env

from processor.localkafka import EmbeddedKafka
from processor.settings import Settings

pytestmark = pytest.mark.integration

USER = "router"
PASSWORD = "right-password"
WRONG_PASSWORD = "wrong-password"
FAST_S = 20.0
"""Well below the 30 s a metadata request waits, with room for a loaded machine's start-up."""
COMMAND_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    folder = tmp_path_factory.mktemp("sasl-kafka")
    with EmbeddedKafka(folder, heap="512m", sasl_users={USER: PASSWORD}) as broker:
        yield broker


def lead_router(
    broker: EmbeddedKafka, password: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Runs a command against the SASL broker as ``USER`` with ``password``; and how long it took.

    The password goes in through its variable only: settings hide it when dumped."""
    settings = Settings(
        bootstrap_servers=broker.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username=USER,
        metrics_port=0,
        topic_partitions=1,
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "processor", *args],
        env=settings_env(settings) | {"LEAD_ROUTER_SASL_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["rules", "apply", "{rules}"],
        ["deliver", "--partner", "crm-east"],
        ["receipts"],
        ["audit", "show", "lead-1"],
        ["demo"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_wrong_password_ends_the_command_at_once_saying_authentication_failed(
    sasl_kafka: EmbeddedKafka, rules_file: Path, command: list[str]
) -> None:
    args = [arg.format(rules=rules_file) for arg in command]
    done, took = lead_router(sasl_kafka, WRONG_PASSWORD, *args)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "authentication failed" in done.stderr, output
    assert f"SASL PLAIN as user '{USER}'" in done.stderr, output
    assert "Traceback" not in output
    assert WRONG_PASSWORD not in output
    assert took < FAST_S, f"took {took:.1f} s"


def test_the_right_password_lets_rules_apply_publish(
    sasl_kafka: EmbeddedKafka, rules_file: Path
) -> None:
    done, _ = lead_router(sasl_kafka, PASSWORD, "rules", "apply", str(rules_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "published as version" in done.stdout or "no changes" in done.stdout
