"""Fixtures for the checks of the operations files: docker-compose.yml, deploy/ and the tools.

The tools (promtool, the Docker Compose CLI plugin) are built by ``make tools``, which ``make test``
runs first; ``make test`` passes their paths in ``LEAD_ROUTER_PROMTOOL`` and
``LEAD_ROUTER_COMPOSE_DOCKER_CONFIG``. A missing tool fails the check: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# The stream helpers (streamkit) of the integration tests run the processor on the test broker.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))


def _tools_dir() -> Path:
    cache = os.environ.get("LEAD_ROUTER_CACHE_DIR")
    if cache:
        return Path(cache) / "tools"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lead-router" / "tools"


def _tool(variable: str, default: Path) -> Path:
    path = Path(os.environ.get(variable) or default)
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` (or `make test`), or set {variable}")
    return path


@pytest.fixture(scope="session")
def promtool() -> Path:
    """The promtool binary."""
    return _tool("LEAD_ROUTER_PROMTOOL", _tools_dir() / "prometheus-3.16.0" / "promtool")


@pytest.fixture(scope="session")
def compose_env() -> dict[str, str]:
    """The environment in which ``docker compose`` finds the Compose CLI plugin."""
    config = _tool("LEAD_ROUTER_COMPOSE_DOCKER_CONFIG", _tools_dir() / "compose-5.6.0")
    _tool("LEAD_ROUTER_COMPOSE_DOCKER_CONFIG", config / "cli-plugins" / "docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env["DOCKER_CONFIG"] = str(config)
    return env


@pytest.fixture(scope="session")
def compose_command(compose_env: dict[str, str]) -> list[str]:
    """``docker compose`` with the built plugin; the plugin on its own where no docker CLI is.

    The plugin run directly behaves as ``docker compose`` (it is the same program); ``config``
    needs no Docker engine either way.
    """
    docker = shutil.which("docker")
    if docker:
        return [docker, "compose"]
    return [str(Path(compose_env["DOCKER_CONFIG"]) / "cli-plugins" / "docker-compose")]
