"""Device routes: heartbeat and the device's state (ETag; 304 when unchanged)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub.deps import Principal, get_hub, require_device
from edgeloop.hub.devices import Heartbeat, record_heartbeat
from edgeloop.hub.events import device_scopes, latest_event
from edgeloop.hub.http import read_json
from edgeloop.hub.state import Hub
from edgeloop.validation import format_validation_error

router = APIRouter(prefix="/api/v1")


@router.post("/heartbeat", status_code=204)
async def heartbeat(request: Request, who: Principal = Depends(require_device)) -> Response:
    """Store the device's newest heartbeat (model version, health, fps, backlog, free disk, ...)."""
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise RequestError("expected a JSON object")
    try:
        beat = Heartbeat.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"invalid heartbeat: {format_validation_error(exc, 'key')}") from None
    assert who.device is not None
    await run_in_threadpool(record_heartbeat, get_hub(request).engine, who.device, beat)
    return Response(status_code=204)


def _latest(hub: Hub, who: Principal) -> int:
    assert who.device is not None
    with hub.engine.connect() as conn:
        return latest_event(conn, device_scopes(who.device, who.group))


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@router.get("/device/state")
async def state(request: Request, who: Principal = Depends(require_device)) -> Response:
    """{"device", "group", "event"} with ETag "<event>"; 304 when If-None-Match matches."""
    event = await run_in_threadpool(_latest, get_hub(request), who)
    etag = f'"{event}"'
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    body = {"device": who.device, "group": who.group, "event": event}
    return JSONResponse(body, headers={"ETag": etag, "Cache-Control": "no-cache"})
