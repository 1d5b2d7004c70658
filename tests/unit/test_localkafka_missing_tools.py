"""Without Java or Maven, starting the embedded broker says what to install, at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from processor.errors import MissingTool
from processor.localkafka import EmbeddedKafka
from processor.localkafka.jars import broker_classpath


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingTool, match="install a Java 17"):
        EmbeddedKafka(tmp_path / "broker").start()


def test_missing_maven_with_cold_cache_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LEAD_ROUTER_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(MissingTool, match="apt-get install maven"):
        broker_classpath()


def test_cli_reports_missing_java_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "processor", "kafka", "start", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "Java is needed" in done.stderr
