"""A substring index for contact search on SQLite (PostgreSQL has its trigram GIN index).

Contact search matches each word anywhere in `contacts.search_text` (name, email,
company). On SQLite a `LIKE '%word%'` reads every row: 160 ms at 100,000 contacts. SQLite's
FTS5 with the trigram tokenizer (SQLite 3.34 and later) answers the same question from an
index. `contacts_search` is an external-content FTS5 table over `contacts.search_text`,
kept in step by three triggers; migration contacts0003 creates it where SQLite supports it
(elsewhere search stays a scan, and correct).

A later migration that rebuilds the contacts table on SQLite (Alembic batch mode) drops the
triggers with the old table: it must call `create_sqlite_search_index` again.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import ColumnElement, column, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

TABLE = "contacts_search"
_TRIGGERS = {
    "contacts_search_ai": "AFTER INSERT ON contacts BEGIN "
    "INSERT INTO contacts_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "contacts_search_ad": "AFTER DELETE ON contacts BEGIN "
    "INSERT INTO contacts_search(contacts_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "contacts_search_au": "AFTER UPDATE OF search_text ON contacts BEGIN "
    "INSERT INTO contacts_search(contacts_search, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO contacts_search(rowid, search_text) VALUES (new.id, new.search_text); END",
}
# Patterns shorter than a trigram cannot use the index (FTS5 would scan its own table).
MIN_INDEXED_LENGTH = 3

_fts = table(TABLE, column("rowid"), column("search_text"))
_available: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def is_index_table(name: str | None) -> bool:
    """The FTS table and its shadow tables (not in the models: migrations and schema
    comparisons leave them alone)."""
    return bool(name) and (name == TABLE or str(name).startswith(TABLE + "_"))


def create_sqlite_search_index(conn: Connection) -> bool:
    """Create and fill the index (SQLite only). False when this SQLite lacks FTS5's
    trigram tokenizer; search then scans, as before."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE {TABLE} USING fts5(search_text, content='contacts', "
                "content_rowid='id', tokenize='trigram')"
            )
    except OperationalError:
        return False
    for name, body in _TRIGGERS.items():
        conn.exec_driver_sql(f"CREATE TRIGGER {name} {body}")
    conn.exec_driver_sql(f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')")
    return True


def drop_sqlite_search_index(conn: Connection) -> None:
    for name in _TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def available(session: Session) -> bool:
    """Whether this database has the SQLite search index (looked up once per engine)."""
    bind: Any = session.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine not in _available:
        names: set[str] = set(
            session.execute(
                select(column("name"))
                .select_from(table("sqlite_master"))
                .where(column("name").in_([TABLE, *_TRIGGERS]))
            ).scalars()
        )
        _available[engine] = names == {TABLE, *_TRIGGERS}
    return _available[engine]


def contains(word: str) -> ColumnElement[bool]:
    """Contacts whose search text contains `word` (lower-case, at least 3 characters), from
    the index. GLOB, not LIKE: FTS5 uses the index for LIKE only without ESCAPE, and GLOB
    is case-sensitive, which is right for lower-cased text."""
    from app.contacts.models import Contact

    pattern = "".join(f"[{ch}]" if ch in "*?[" else ch for ch in word)
    return Contact.id.in_(select(_fts.c.rowid).where(_fts.c.search_text.op("GLOB")(f"*{pattern}*")))
