"""``GET /healthz``: liveness and what the hub runs on (no token needed, no data)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from edgeloop.hub.deps import get_hub
from edgeloop.hub.state import Hub

router = APIRouter()


def _ping(hub: Hub) -> None:
    with hub.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """{"ok": true, "db": "sqlite"|"postgresql", "blobs": "folder"|"s3"}."""
    hub = get_hub(request)
    await run_in_threadpool(_ping, hub)
    return {"ok": True, "db": hub.db_kind, "blobs": hub.blobs_kind}
