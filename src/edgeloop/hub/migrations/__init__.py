"""Alembic migrations of the hub's schema, run programmatically (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent
# pg_advisory_lock key: "edgeloop hub migrate" (any constant shared by every hub process).
_LOCK_KEY = 0x6564_6765_6C6F_6F70 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic config for this package, running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe when several hub processes start at once.

    On PostgreSQL an advisory lock serializes the processes; on SQLite the migration's
    own write transaction does.
    """
    with engine.connect() as conn:
        # SQLite: BEGIN IMMEDIATE (db.writing's option), so a second process waits for the first.
        conn = conn.execution_options(edgeloop_write=True)
        locked = conn.dialect.name == "postgresql"
        if locked:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            conn.commit()
        try:
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        finally:
            if locked:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                conn.commit()


def current(engine: sa.Engine) -> str | None:
    """The database's revision (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
