"""``/v1/pipelines``: start, list, inspect and stop video pipelines on the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.serve.pipelines import PipelineSpec
from edgeloop.serve.state import ServerState, authorized

router = APIRouter(prefix="/v1/pipelines")


@router.post("", status_code=201)
async def start(spec: PipelineSpec, state: ServerState = Depends(authorized)) -> JSONResponse:
    """Start a pipeline: a served model on video sources, into sinks (as ``edgeloop run``)."""
    started = await run_in_threadpool(state.pipelines.start, spec)
    return JSONResponse(started.status(), status_code=201)


@router.get("")
async def list_pipelines(state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """Every pipeline started and not yet deleted, with its state and live stats."""
    return {"pipelines": [p.status() for p in state.pipelines.list()]}


@router.get("/{pipeline_id}")
async def status(pipeline_id: str, state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """One pipeline: state (running, ended, failed...), per-source stats, and its summary once done."""
    return state.pipelines.get(pipeline_id).status()


@router.delete("/{pipeline_id}")
async def stop(pipeline_id: str, state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """Stop a pipeline within seconds (its files are completed) and return its final status."""
    stopped = await run_in_threadpool(state.pipelines.stop, pipeline_id)
    return stopped.status()
