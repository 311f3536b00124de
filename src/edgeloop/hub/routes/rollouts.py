"""Admin routes: rollouts (create, list, show, promote, pause, resume, abort) and device pins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub import assignments, rollouts
from edgeloop.hub.deps import Principal, get_hub, require_admin
from edgeloop.hub.http import read_json
from edgeloop.validation import format_validation_error

router = APIRouter(prefix="/api/v1")
ACTIONS = {
    "promote": rollouts.promote,
    "pause": rollouts.pause,
    "resume": rollouts.resume,
    "abort": rollouts.abort,
}


class NewRollout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1)
    group: str = Field("default", min_length=1, max_length=128)
    canary_share: float = Field(0.1, ge=0.0, le=1.0)
    auto_promote: bool = True


class NewPin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1)


async def _body(request: Request, kind: type[BaseModel], example: str) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise RequestError(f"expected a JSON object like {example}")
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"{format_validation_error(exc, 'key')}; e.g. {example}") from None


@router.post("/rollouts", status_code=201)
async def create(request: Request, _: Principal = Depends(require_admin)) -> JSONResponse:
    """Start a rollout: 201 with the rollout (state canary, or rolling without canaries)."""
    example = '{"model": "det", "version": 3, "group": "default", "canary_share": 0.1}'
    new: NewRollout = await _body(request, NewRollout, example)
    hub = get_hub(request)
    rollout = await run_in_threadpool(
        rollouts.create,
        hub.engine,
        hub.blobs,
        hub.events,
        new.model,
        new.version,
        new.group,
        new.canary_share,
        new.auto_promote,
    )
    return JSONResponse(rollout.as_dict(), status_code=201)


@router.get("/rollouts")
async def list_all(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Every rollout, newest first, with counts by state."""
    return {"rollouts": await run_in_threadpool(assignments.summaries, get_hub(request).engine)}


@router.get("/rollouts/{rollout_id}")
async def show(rollout_id: int, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """One rollout with a row per device and counts by state."""
    return await run_in_threadpool(assignments.detail, get_hub(request).engine, rollout_id)


@router.post("/rollouts/{rollout_id}/{action}")
async def act(
    rollout_id: int, action: str, request: Request, _: Principal = Depends(require_admin)
) -> dict[str, Any]:
    """promote | pause | resume | abort; the rollout after it."""
    if action not in ACTIONS:
        raise RequestError(f"unknown action {action[:40]!r}: use promote, pause, resume or abort")
    hub = get_hub(request)
    rollout = await run_in_threadpool(ACTIONS[action], hub.engine, hub.events, rollout_id)
    return rollout.as_dict()


@router.put("/devices/{name}/pin")
async def pin(name: str, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Pin the device to a published version (wins over rollouts)."""
    new: NewPin = await _body(request, NewPin, '{"model": "det", "version": 2}')
    hub = get_hub(request)
    return await run_in_threadpool(
        assignments.pin, hub.engine, hub.blobs, hub.events, name, new.model, new.version
    )


@router.delete("/devices/{name}/pin", status_code=204)
async def unpin(name: str, request: Request, _: Principal = Depends(require_admin)) -> Response:
    """Remove the device's pin."""
    hub = get_hub(request)
    await run_in_threadpool(assignments.unpin, hub.engine, hub.events, name)
    return Response(status_code=204)
