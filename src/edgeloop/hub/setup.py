"""What ``hub serve`` and the admin commands do before anything else: checks, migrations, tokens."""

from __future__ import annotations

from edgeloop.errors import ConfigError
from edgeloop.hub.auth import AdminToken, admin_token_explicit, load_admin_token
from edgeloop.hub.config import ADMIN_TOKEN_ENV, HubConfig
from edgeloop.hub.db import create_engine
from edgeloop.hub.migrations import upgrade
from edgeloop.serve.config import is_loopback


def check_exposure(config: HubConfig) -> None:
    """Refuse a non-loopback ``host`` unless the operator configured the admin token.

    Raises:
        ConfigError: naming the fix.
    """
    if not is_loopback(config.host) and not admin_token_explicit(config):
        raise ConfigError(
            f"refusing to listen on {config.host} without an admin token you configured: "
            f"pass --admin-token-file FILE (mode 0600) or set ${ADMIN_TOKEN_ENV}, "
            "or bind --host 127.0.0.1"
        )


def migrate(config: HubConfig) -> None:
    """Create or upgrade the hub's schema and, on PostgreSQL, the job queue's (several processes at once
    are safe)."""
    if config.db_url is None:  # the SQLite file lives in --data
        config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(config.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    if config.database_url.startswith("postgresql"):  # the job queue's tables (procrastinate)
        from edgeloop.hub.jobs.pgqueue import apply_schema

        apply_schema(config.database_url)


def prepare(config: HubConfig) -> AdminToken:
    """Check exposure, migrate, and load (or create) the admin token."""
    check_exposure(config)
    migrate(config)
    return load_admin_token(config, create=True)
