"""The hub's process state: config, database engine, blob store and events."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from edgeloop.hub.blobs import BlobStore, blobs_kind, open_blobs
from edgeloop.hub.config import HubConfig
from edgeloop.hub.db import create_engine
from edgeloop.hub.events import Events


@dataclass
class Hub:
    """Everything a route needs; hub processes keep no other state (all of it is in DB + blobs)."""

    config: HubConfig
    engine: sa.Engine
    blobs: BlobStore
    events: Events
    admin_sha256: str

    @property
    def db_kind(self) -> str:
        return self.engine.dialect.name

    @property
    def blobs_kind(self) -> str:
        return blobs_kind(self.config.blobs)

    def close(self) -> None:
        """Release the engine, the blob store and the MQTT client (idempotent)."""
        self.events.close()
        self.blobs.close()
        self.engine.dispose()


def open_hub(config: HubConfig, admin_sha256: str) -> Hub:
    """Open the database and blob store ``config`` names (the schema must be migrated already)."""
    engine = create_engine(config.database_url)
    try:
        blobs = open_blobs(config.blobs)
        return Hub(config, engine, blobs, Events(engine, config.mqtt_url), admin_sha256)
    except BaseException:
        engine.dispose()
        raise
