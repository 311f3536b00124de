"""Devices: add (with a one-time token), revoke, list, and their heartbeats."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from edgeloop.errors import Conflict, NotFound, RequestError
from edgeloop.hub import schema
from edgeloop.hub.auth import add_token
from edgeloop.hub.db import insert_ignore, writing
from edgeloop.hub.events import Events

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(value: str, what: str = "device name") -> str:
    """``value`` if it is a valid device or group name (it appears in MQTT topics and URLs)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RequestError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-' (not first)"
        )
    return value


def add_device(engine: sa.Engine, events: Events, name: str, group: str = "default") -> str:
    """Register ``name`` in ``group`` and return its token (shown once, stored hashed).

    Raises:
        Conflict: a device of that name exists (revoked devices keep their name).
    """
    check_name(name)
    check_name(group, "group name")
    d = schema.devices
    with writing(engine) as conn:
        # Insert-if-absent, not select-then-insert: two hub processes adding the same name at once
        # must answer one 201 and one 409 (a select saw no row in both, and one insert failed: 500).
        if not insert_ignore(conn, d, {"name": name, "group": group, "created_at": time.time()}):
            raise Conflict(f"device {name!r} already exists; pick another name or revoke and use a new one")
        token = add_token(conn, "device", name)
        events.publish(conn, f"device:{name}", "device.added", {"group": group})
    return token


def revoke_device(engine: sa.Engine, events: Events, name: str) -> None:
    """Revoke ``name`` and all its tokens (its samples stay).

    Raises:
        NotFound: no such device.
    """
    now = time.time()
    d, t = schema.devices, schema.tokens
    with writing(engine) as conn:
        found = conn.execute(
            sa.update(d).where(d.c.name == name).values(revoked_at=sa.func.coalesce(d.c.revoked_at, now))
        )
        if found.rowcount == 0:
            raise NotFound(f"no device {name!r}; see `edgeloop hub device ls`")
        conn.execute(sa.update(t).where(t.c.device == name, t.c.revoked_at.is_(None)).values(revoked_at=now))
        events.publish(conn, f"device:{name}", "device.revoked")


_COLUMNS = (
    "name",
    "group",
    "created_at",
    "revoked_at",
    "last_seen",
    "model_version",
    "health",
    "fps",
    "backlog",
    "free_disk_bytes",
    "heartbeat",  # the whole newest body: health reason, backlog bytes, sync counters
)


def list_devices(engine: sa.Engine, include_revoked: bool = True) -> list[dict[str, Any]]:
    """Every device with its newest heartbeat's fields, by name."""
    d = schema.devices
    query = sa.select(*(d.c[c] for c in _COLUMNS)).order_by(d.c.name)
    if not include_revoked:
        query = query.where(d.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


class Heartbeat(BaseModel):
    """What a device reports; unknown fields are kept in the stored JSON."""

    model_config = ConfigDict(extra="allow")

    model_version: str = Field("", max_length=200)
    health: str = Field("unknown", max_length=32)
    fps: float | None = Field(None, ge=0)
    backlog: int | None = Field(None, ge=0)
    free_disk_bytes: int | None = Field(None, ge=0)


def record_heartbeat(engine: sa.Engine, device: str, beat: Heartbeat) -> None:
    """Store ``beat`` as the device's newest: flattened fields plus the full JSON."""
    d = schema.devices
    body = beat.model_dump(mode="json")
    with writing(engine) as conn:
        conn.execute(
            sa.update(d)
            .where(d.c.name == device)
            .values(
                last_seen=time.time(),
                model_version=beat.model_version,
                health=beat.health,
                fps=beat.fps,
                backlog=beat.backlog,
                free_disk_bytes=beat.free_disk_bytes,
                heartbeat=body,
            )
        )
