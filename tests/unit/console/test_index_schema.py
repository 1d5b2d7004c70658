"""Where the index lives: the URL a setting gives, and the database it opens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from processor.console.index.indexer import Indexer
from processor.console.index.schema import database_url, open_index, row_counts
from processor.console.index.search import index_status
from processor.errors import InvalidInput
from tests.unit.console.index_kit import AUDIT, SETTINGS, T0, Source, dead_letter, decision, on


def test_no_setting_means_a_sqlite_file_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAD_ROUTER_CACHE_DIR", str(tmp_path / "cache"))
    assert database_url(None) == f"sqlite:///{tmp_path / 'cache' / 'console.sqlite3'}"
    assert database_url("  ") == database_url(None)
    monkeypatch.delenv("LEAD_ROUTER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert database_url(None) == f"sqlite:///{tmp_path / 'xdg' / 'lead-router' / 'console.sqlite3'}"


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://u:p@h:5432/d"])
def test_sqlite_and_postgresql_urls_are_taken(url: str) -> None:
    assert database_url(url) == url


@pytest.mark.parametrize("url", ["mysql://u:secret@h/d", "not a url", "file:///tmp/x"])
def test_another_scheme_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidInput, match="LEAD_ROUTER_CONSOLE_DATABASE_URL") as refused:
        database_url(url)
    assert "secret" not in str(refused.value)


def test_opening_creates_the_folder_the_tables_and_wal_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine = open_index(f"sqlite:///{tmp_path / 'a' / 'b' / 'index.sqlite3'}")
    assert (tmp_path / "a" / "b" / "index.sqlite3").exists()
    tables = set(inspect(engine).get_table_names())
    assert {
        "decisions",
        "decision_deliveries",
        "receipts",
        "dead_letters",
        "index_offsets",
    } <= tables
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    open_index(f"sqlite:///{tmp_path / 'a' / 'b' / 'index.sqlite3'}")  # opening again keeps it


def test_a_postgresql_password_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(Exception):  # noqa: B017 -- nothing listens there; only the log matters
        open_index("postgresql://user:s3cret-pw@127.0.0.1:1/none?connect_timeout=1")
    assert "s3cret-pw" not in caplog.text
    assert "postgresql+psycopg://user:***@127.0.0.1:1/none" in caplog.text


def test_an_index_made_before_rows_were_counted_is_counted_once_on_opening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    engine = open_index(url)
    given = [on(AUDIT, n, decision(f"lead-{n}", T0)) for n in range(12)] + [dead_letter(0, "x")]
    Indexer(SETTINGS, engine, source=Source(given)).poll_once(0)
    row_counts.drop(engine)  # as an older console left it: rows, and no counts
    engine.dispose()
    reopened = open_index(url)
    status = index_status(reopened)
    assert (status.decisions, status.receipts, status.dead_letters) == (12, 0, 1)
    Indexer(
        SETTINGS, reopened, source=Source([*given, on(AUDIT, 12, decision("lead-12", T0))])
    ).poll_once(0)
    assert index_status(open_index(url)).decisions == 13  # counted on, not counted again
