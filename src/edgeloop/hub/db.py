"""Engines for the hub's metadata: SQLite (WAL, synchronous=FULL) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edgeloop.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000
_WRITE = "edgeloop_write"


def normalize_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) mean the psycopg 3 driver; SQLite URLs stay.

    Raises:
        ConfigError: another database engine.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError(
        f"unsupported database URL {sa.make_url(url).render_as_string(hide_password=True)!r}: "
        "use sqlite:///PATH or postgresql://user@host:port/db"
    )


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL, synchronous=FULL, a busy timeout and foreign keys.

    SQLite transactions are begun by us (``BEGIN`` or, for writers, ``BEGIN IMMEDIATE`` through
    :func:`writing`), so two processes never deadlock upgrading a read lock to a write lock.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a write transaction, committed on success (rolled back on error)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def engine_kind(engine: sa.Engine) -> str:
    """ "sqlite" or "postgresql"."""
    return engine.dialect.name


def insert_ignore(conn: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless its primary (or a unique) key is already there; whether it was inserted."""
    dialect = conn.dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: SQLAlchemy reports no rowcount for INSERT unless asked.
    statement = module.insert(table).values(**row).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None
