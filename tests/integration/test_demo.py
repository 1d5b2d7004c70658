"""`lead-router demo` end to end on the test broker: routes, summarises (a cap reached, duplicates
caught), delivers, and serves the console until SIGTERM."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from consolekit import running
from streamkit import settings_env

from processor.demo.leads import sample_leads
from processor.settings import Settings

pytestmark = pytest.mark.integration

LEADS = 300
DEMO_RULES = Path(__file__).parents[2] / "processor" / "demo" / "rules.yaml"


def dry_run(tmp_path: Path) -> list[dict[str, Any]]:
    """The decisions `lead-router dry-run` makes for the demo's leads with the demo's rules: what
    the processor must decide for them, read in the same order from one input partition."""
    leads = tmp_path / "leads.jsonl"
    leads.write_text("".join(json.dumps(lead) + "\n" for lead in sample_leads(LEADS)))
    done = subprocess.run(
        [sys.executable, "-m", "processor", "dry-run", "--rules", str(DEMO_RULES), str(leads)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_demo_routes_summarises_and_delivers_one_partner(
    stream_settings: Settings, unique: str, tmp_path: Path
) -> None:
    env = settings_env(stream_settings.with_changes(receipts_topic=f"receipts-{unique}"))
    del env["LEAD_ROUTER_METRICS_PORT"]  # the demo picks a free port itself
    env["LEAD_ROUTER_CONSOLE_PORT"] = "0"  # any free port: it prints the one it took
    with running(["demo", "--leads", str(LEADS), "--bad-records", "3"], env, tmp_path) as demo:
        console = demo.console(timeout=300)
        with urllib.request.urlopen(f"{console.url}/login", timeout=10) as login:
            assert login.status == 200 and b"<h1>Sign in</h1>" in login.read()
        assert demo.terminate() == 0, demo.stderr.read_text()[-3000:]
    assert demo.lines[-1] == "Ctrl-C ends the demo."
    out = demo.output
    assert "Outcomes by profile" in out
    assert "dead letters on" in out and ": 3 (records that are not leads)" in out
    decisions = dry_run(tmp_path)
    took = Counter(d["partner"] for decision in decisions for d in decision["deliveries"])
    # Harbor bids on Prime's leads for less: it takes each one Prime's daily cap turns away.
    assert took["prime-lending"] == 3 and took["harbor-finance"] > 0
    assert (
        "cap reached: prime-lending took 3 of 3 leads per day (2026-11-02, America/New_York); "
        f"harbor-finance took the next {took['harbor-finance']}"
    ) in out
    repeats = [(d["lead_id"], d["duplicate_of"]) for d in decisions if d["outcome"] == "duplicate"]
    assert len(repeats) == 2 and repeats[0][0] != repeats[0][1] and repeats[1][0] == repeats[1][1]
    said = f"{repeats[0][0]} repeats {repeats[0][1]}; {repeats[1][0]} sent twice"
    assert f"duplicates caught: 2 ({said})" in out
    delivered = re.search(r"\(delivered (\d+)\)", out)
    assert delivered, out[-2000:]
    files = list((tmp_path / "deliveries" / "metro-manhattan").glob("*.xml"))
    assert len(files) == int(delivered.group(1)) > 0
