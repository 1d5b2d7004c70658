"""The index's tables, and opening its database (SQLite by default, PostgreSQL by URL).

The tables are SQLAlchemy Core, in types both databases share (BigInteger for milliseconds and
offsets, Text, Float, Integer), so one schema and one set of queries serve a laptop's demo and a
shared deployment. ``create_all`` makes what is missing and leaves what exists: a newer console
opening an older index adds new tables, never changes old ones.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from processor.cache import cache_dir
from processor.errors import InvalidInput

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
"""A UTC day in milliseconds: ``day`` columns hold ``at // DAY_MS``."""

URL_SETTING = "LEAD_ROUTER_CONSOLE_DATABASE_URL"
SQLITE_FILE = "console.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for the other's write lock before failing: the indexer's
transactions last milliseconds, so only a stuck writer makes a page wait this long."""

metadata = MetaData()


def _record_table(name: str, *columns: Column[Any] | Index) -> Table:
    """A table of one row per record read: a row id, the row's own columns, and where its record
    was read (topic, partition, offset), unique so that indexing a record twice fails instead of
    counting it twice."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *columns,
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        UniqueConstraint("topic", "partition", "offset", name=f"uq_{name}_record"),
    )


decisions = _record_table(
    "decisions",
    Column("lead_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("profile", Text),
    Column("tier", Text),
    Column("site_id", Text),
    Column("duplicate_of", Text),
    Column("error", Text),
    Column("rules_version", Text),
    Column("decided_at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    Column("sequence", BigInteger),
    Column("source_topic", Text),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("reoffer_of", Text),
    Column("geo", Text),
    Column("trace", Text, nullable=False),
    Index("ix_decisions_lead", "lead_id"),
    Index("ix_decisions_time", "decided_at", "id"),
    Index("ix_decisions_profile", "profile", "decided_at"),
    Index("ix_decisions_outcome", "outcome", "decided_at"),
)

decision_deliveries = Table(
    "decision_deliveries",
    metadata,
    # Its own key keeps a decision's deliveries in the order the decision lists them.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", Integer, ForeignKey("decisions.id"), nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("partner", Text, nullable=False),
    Column("assignment", Text),
    Column("price", Float),
    Column("currency", Text),
    Column("distance_km", Float),
    Column("decided_at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    # decision_id last: a partner's newest decisions are read from the index alone.
    Index("ix_deliveries_partner", "partner", "decided_at", "decision_id"),
    Index("ix_deliveries_delivery", "delivery_id"),
    Index("ix_deliveries_decision", "decision_id"),
)

receipts = _record_table(
    "receipts",
    Column("delivery_id", Text, nullable=False),
    Column("lead_id", Text, nullable=False),
    Column("partner", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    Column("detail", Text),
    Column("price", Float),
    Column("currency", Text),
    Column("attempts", Integer),
    Column("next_attempt_at", BigInteger),
    Column("revenue", Float),
    Column("reason", Text),
    Index("ix_receipts_lead", "lead_id"),
    Index("ix_receipts_partner_day", "partner", "day"),
    Index("ix_receipts_delivery", "delivery_id"),
)

dead_letters = _record_table(
    "dead_letters",
    # No key and no value: a dead letter's bytes are the lead, personal data and all.
    Column("reason", Text, nullable=False),
    Column("exception", Text),
    Column("source_topic", Text),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    Index("ix_dead_letters_at", "at"),
)

partner_day_totals = Table(
    "partner_day_totals",
    metadata,
    # Kept by ``rollup`` in the transactions that write the rows it sums.
    Column("partner", Text, nullable=False),
    Column("day", Integer, nullable=False),
    Column("currency", Text, nullable=False),
    Column("decided", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("returned", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("credits", Float, nullable=False),
    PrimaryKeyConstraint("partner", "day", "currency", name="pk_partner_day_totals"),
)

row_counts = Table(
    "row_counts",
    metadata,
    # Kept by ``rollup`` in the transactions that write the rows it counts: counting a million
    # rows took 21 ms (SQLite) to 102 ms (PostgreSQL), on every logs and Health page.
    Column("name", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", name="pk_row_counts"),
)
COUNTED_TABLES = {"decisions": decisions, "receipts": receipts, "dead_letters": dead_letters}
"""The tables whose rows ``row_counts`` counts, by name."""

index_offsets = Table(
    "index_offsets",
    metadata,
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("topic", "partition", name="pk_index_offsets"),
)


def database_url(setting: str | None) -> str:
    """The index's URL: the setting's (``sqlite:///...`` or ``postgresql://...``), or a SQLite
    file in lead-router's cache folder when it is not set."""
    if setting is None or not setting.strip():
        return f"sqlite:///{cache_dir() / SQLITE_FILE}"
    try:
        url = make_url(setting.strip())
    except ArgumentError:
        raise InvalidInput(
            f"{URL_SETTING}: not a database URL; give sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput(
            f"{URL_SETTING}: the scheme {url.drivername!r} is not one the console can use; "
            "give sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return setting.strip()


def open_index(url: str) -> Engine:
    """An engine on the index at ``url``, its tables created when missing.

    ``postgresql://`` is served by psycopg 3. A SQLite file's folder is created, and the file
    is put in WAL mode with a busy timeout, so that pages read while the indexer writes.
    """
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
    # The password never reaches a log line: SQLAlchemy's URL renders it as ***.
    log.info("console index at %s", parsed.render_as_string(hide_password=True))
    metadata.create_all(engine)
    with engine.begin() as connection:
        _count_rows_once(connection)
    return engine


def upsert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of ``table`` in the connection's dialect, which has ``on_conflict_do_*``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _count_rows_once(connection: Connection) -> None:
    """Fills ``row_counts`` when it is new: zeros in a new index, the rows' counts in one that
    an older console made before it kept them. Two consoles opening it at once insert the same
    counts; the second's are ignored."""
    if connection.scalar(select(func.count()).select_from(row_counts)):
        return
    counts = [
        {"name": name, "count": connection.scalar(select(func.count()).select_from(table))}
        for name, table in COUNTED_TABLES.items()
    ]
    connection.execute(upsert(connection, row_counts).on_conflict_do_nothing(), counts)


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    """WAL lets readers go on while a writer commits; foreign keys are checked as PostgreSQL
    checks them."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
