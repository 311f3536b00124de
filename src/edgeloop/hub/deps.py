"""FastAPI dependencies: the Hub, and who is asking (admin or device)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import Forbidden
from edgeloop.hub.auth import Principal, authenticate, bearer
from edgeloop.hub.state import Hub

__all__ = ["Principal", "get_hub", "require_admin", "require_any", "require_device"]


def get_hub(request: Request) -> Hub:
    """The app's Hub."""
    hub: Hub = request.app.state.hub
    return hub


def _who(hub: Hub, header: str | None) -> Principal:
    with hub.engine.connect() as conn:
        return authenticate(conn, hub.admin_sha256, bearer(header))


async def require_any(request: Request) -> Principal:
    """Any valid token (401 otherwise)."""
    hub = get_hub(request)
    return await run_in_threadpool(_who, hub, request.headers.get("authorization"))


async def require_admin(request: Request) -> Principal:
    """An admin token: 401 without a valid token, 403 for a device token."""
    who = await require_any(request)
    if who.role != "admin":
        raise Forbidden("this route needs the admin token; a device token may not use it")
    return who


async def require_device(request: Request) -> Principal:
    """A device token: 401 without a valid token, 403 for the admin token (it is no device)."""
    who = await require_any(request)
    if who.role != "device" or who.device is None:
        raise Forbidden("this route is for devices: use a device token (edgeloop hub device add NAME)")
    return who
