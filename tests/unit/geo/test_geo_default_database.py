"""Without ``GEO_IP_DB``, the IP database that ``lead-router geo fetch`` installed is used."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from processor.app import enricher_for
from processor.cli import main
from processor.geo.fetch import DATABASE_FILES, ip_database
from processor.settings import Settings

RULES = """
partners: [{id: p1, format: json, destinations: ["https://p1"]}]
profiles: [{id: main, sources: [site-a], assignments: [{id: a, partner: p1}]}]
"""
LEAD = {
    "lead_id": "1",
    "submitted_at": "2026-11-20T10:00:00Z",
    "site_id": "site-a",
    "visitor": {"ip": "8.8.8.8"},
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder, and no GEO_IP_DB in the environment."""
    monkeypatch.delenv("LEAD_ROUTER_GEO_DIR")
    monkeypatch.setenv("LEAD_ROUTER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LEAD_ROUTER_GEO_IP_DB", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def fetched(cache: Path, mmdb: Callable[..., Path], record: Callable[..., dict[str, Any]]) -> Path:
    """The cache as ``geo fetch`` leaves it: both database files in its ``geo`` folder."""
    directory = cache / "geo"
    directory.mkdir(parents=True)
    place = record("Mountain View", "US", "California", 37.422, -122.085)
    mmdb(directory / DATABASE_FILES[0], 4, {"8.8.8.0/24": place})
    mmdb(directory / DATABASE_FILES[1], 6, {"2001:4860::/32": place})
    return directory


def test_the_fetched_database_is_the_default(fetched: Path) -> None:
    assert ip_database(None) == fetched


def test_the_setting_wins_over_the_fetched_database(fetched: Path, tmp_path: Path) -> None:
    assert ip_database(tmp_path / "elsewhere.mmdb") == tmp_path / "elsewhere.mmdb"


def test_no_database_without_a_whole_fetch(cache: Path, mmdb: Callable[..., Path]) -> None:
    assert ip_database(None) is None
    (cache / "geo").mkdir(parents=True)
    mmdb(cache / "geo" / DATABASE_FILES[0], 4, {"8.8.8.0/24": {"city": "Mountain View"}})
    assert ip_database(None) is None  # the IPv6 file is missing: a fetch broken off


def test_the_processor_locates_by_ip_with_the_fetched_database_and_says_so(
    fetched: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="processor.app")
    enricher = enricher_for(Settings().geo)
    try:
        located = enricher.locate(LEAD)
    finally:
        enricher.close()
    assert located.geo is not None and located.geo.source == "ip"
    assert f"IP database: {fetched}, from `lead-router geo fetch`" in caplog.text


def _dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Routes the one lead with dry-run; what it printed."""
    rules, leads = tmp_path / "rules.yaml", tmp_path / "leads.jsonl"
    rules.write_text(RULES)
    leads.write_text(json.dumps(LEAD) + "\n")
    assert main(["dry-run", "--rules", str(rules), str(leads)]) == 0
    return capsys.readouterr()


def test_dry_run_locates_by_ip_with_the_fetched_database_and_says_so(
    fetched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captured = _dry_run(tmp_path, capsys)
    assert json.loads(captured.out)["geo"]["source"] == "ip"
    assert captured.err == f"lead-router: IP database: {fetched}, from `lead-router geo fetch`\n"


def test_dry_run_without_any_database_says_nothing(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captured = _dry_run(tmp_path, capsys)
    assert json.loads(captured.out)["geo"] is None
    assert captured.err == ""
