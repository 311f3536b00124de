"""Admin routes: devices (list, add with a one-time token, revoke)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub.deps import Principal, get_hub, require_admin
from edgeloop.hub.devices import add_device, list_devices, revoke_device
from edgeloop.hub.http import read_json

router = APIRouter(prefix="/api/v1/devices")


@router.get("")
async def devices(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Every device with its last heartbeat."""
    return {"devices": await run_in_threadpool(list_devices, get_hub(request).engine)}


@router.post("", status_code=201)
async def add(request: Request, _: Principal = Depends(require_admin)) -> JSONResponse:
    """Register a device: 201 {"name", "group", "token"} (the token is shown this once)."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise RequestError('expected a JSON object {"name": "...", "group": "..."}')
    group = body.get("group") or "default"
    if not isinstance(group, str):
        raise RequestError("'group' must be a string")
    hub = get_hub(request)
    token = await run_in_threadpool(add_device, hub.engine, hub.events, body["name"], group)
    return JSONResponse({"name": body["name"], "group": group, "token": token}, status_code=201)


@router.delete("/{name}", status_code=204)
async def revoke(name: str, request: Request, _: Principal = Depends(require_admin)) -> Response:
    """Revoke the device and all its tokens."""
    hub = get_hub(request)
    await run_in_threadpool(revoke_device, hub.engine, hub.events, name)
    return Response(status_code=204)
