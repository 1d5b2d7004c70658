"""Each editor's draft of the rules, kept in the console's database between visits.

A draft is text as the editor wrote it (YAML or JSON, valid or not yet), with the version in force
when it was started: applying it expects that version, so a draft written against rules that
changed since is refused rather than silently undoing someone else's apply. One draft per user;
the table lives beside the index, in its own metadata, created on first use (by the worker thread
that reads or writes a draft first, never on the pages' event loop).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)

from processor.rules import RulesDocument, RulesLimits, validate_document
from processor.rules.load import parse_text

metadata = MetaData()

drafts = Table(
    "drafts",
    metadata,
    Column("user", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("based_on_version", String(32), nullable=True),
    Column("saved_at", BigInteger, nullable=False),
)


def document_of(text: str, limits: RulesLimits) -> RulesDocument:
    """The valid document a draft's text holds; :class:`~processor.rules.RulesInvalid` with every
    error otherwise. Always read as text: ``load_rules`` would take a one-line string for a file's
    path, and a draft must never name a file of the console's machine."""
    return validate_document(parse_text(text, limits), limits)


@dataclass(frozen=True)
class Draft:
    user: str
    text: str
    based_on_version: str | None
    """The version in force when the draft was started ("0": none was)."""
    saved_at: int
    """Epoch milliseconds."""


class Drafts:
    """The drafts table of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._created = False
        self._creating = threading.Lock()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction on the database, the table created first when this is the first."""
        if not self._created:
            with self._creating:
                metadata.create_all(self._engine)
                self._created = True
        with self._engine.begin() as connection:
            yield connection

    def get(self, user: str) -> Draft | None:
        with self._begin() as connection:
            row = connection.execute(select(drafts).where(drafts.c.user == user)).first()
        if row is None:
            return None
        return Draft(row.user, row.text, row.based_on_version, row.saved_at)

    def save(self, user: str, text: str, based_on_version: str | None) -> Draft:
        """Replaces the user's draft with ``text``."""
        draft = Draft(user, text, based_on_version, time.time_ns() // 1_000_000)
        with self._begin() as connection:
            connection.execute(delete(drafts).where(drafts.c.user == user))
            connection.execute(
                drafts.insert().values(
                    user=user, text=text, based_on_version=based_on_version, saved_at=draft.saved_at
                )
            )
        return draft

    def discard(self, user: str) -> None:
        with self._begin() as connection:
            connection.execute(delete(drafts).where(drafts.c.user == user))
