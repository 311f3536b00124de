"""Alembic environment: runs on the connection handed in by ``edgeloop.hub.migrations``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from edgeloop.hub.schema import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run hub migrations through edgeloop.hub.migrations.upgrade (edgeloop hub migrate)")
_run(connection)
