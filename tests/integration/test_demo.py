"""`lead-router demo` end to end on the test broker: routes, summarises, and delivers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamkit import settings_env

from processor.settings import Settings

pytestmark = pytest.mark.integration


def test_the_demo_routes_summarises_and_delivers_one_partner(
    stream_settings: Settings, unique: str, tmp_path: Path
) -> None:
    env = settings_env(stream_settings.with_changes(receipts_topic=f"receipts-{unique}"))
    del env["LEAD_ROUTER_METRICS_PORT"]  # the demo picks a free port itself
    done = subprocess.run(
        [sys.executable, "-m", "processor", "demo", "--leads", "300", "--bad-records", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())  # the console wraps long lines
    assert "Outcomes by profile" in out
    assert "dead letters on" in out and ": 3 (records that are not leads)" in out
    delivered = re.search(r"\(delivered (\d+)\)", out)
    assert delivered, out[-2000:]
    files = list((tmp_path / "deliveries" / "metro-manhattan").glob("*.xml"))
    assert len(files) == int(delivered.group(1)) > 0
