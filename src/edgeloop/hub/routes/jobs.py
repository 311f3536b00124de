"""Admin routes: retrain jobs (list, start, show with progress and log tail, cancel a queued one).

Bad parameters answer 422 with one line naming each wrong key; a job's status, progress, log
and result come from the jobs table whichever worker runs it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import ConfigError, Conflict, DatasetError
from edgeloop.hub import datasets
from edgeloop.hub.deps import Principal, get_hub, require_admin
from edgeloop.hub.http import read_json
from edgeloop.hub.jobs import dispatch, queue
from edgeloop.hub.state import Hub
from edgeloop.retrain.params import RetrainParams, parse_params
from edgeloop.serve.http import error_response

router = APIRouter(prefix="/api/v1/jobs")
LIST_LOG_LINES = 5
SHOW_LOG_LINES = 50


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"?{name}={raw[:20]}: a whole number from {low} to {high}")
    return int(raw)


def _check(hub: Hub, params: RetrainParams) -> None:
    """Refuse what would fail at once: unknown dataset (version), bad gate rules."""
    if not params.snapshot:
        datasets.show(hub.engine, params.dataset_name, params.dataset_version)
    if params.field:
        datasets.show(hub.engine, params.field)
    from edgeloop.retrain.rules import rules_from_dict

    rules_from_dict(params.gate, "gate")


def _parse_body(body: Any) -> tuple[RetrainParams, str]:
    if not isinstance(body, dict):
        raise ConfigError('the body is a JSON object: {"kind": "retrain", "dataset": "NAME[@VERSION]", ...}')
    body = dict(body)
    kind = body.pop("kind", "retrain")
    if kind not in queue.KINDS:
        raise ConfigError(f"kind {str(kind)[:40]!r}: jobs are of kind {', '.join(queue.KINDS)}")
    return parse_params(body, "job"), kind


@router.get("")
async def list_all(request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """The newest jobs first (``?limit=``, ``?status=``), each with the last lines of its log."""
    limit = _int(request, "limit", 50, 1, 1000)
    status = request.query_params.get("status")
    jobs = await run_in_threadpool(queue.list_jobs, get_hub(request).engine, limit, status)
    return {"jobs": [j.as_dict(LIST_LOG_LINES) for j in jobs]}


@router.post("", status_code=201)
async def start(request: Request, who: Principal = Depends(require_admin)) -> JSONResponse:
    """Queue a retrain: ``{"kind": "retrain", "dataset": "NAME[@VERSION]", "model": ..., "train": {...},
    "gate": {...}}``. 201 with the job; 422 naming what is wrong with the parameters."""
    hub = get_hub(request)
    try:
        params, kind = _parse_body(await read_json(request))
        await run_in_threadpool(_check, hub, params)
    except (ConfigError, DatasetError) as exc:
        status = 404 if isinstance(exc, datasets.DatasetNotFound) else 422
        return error_response(status, str(exc))
    job = await run_in_threadpool(
        dispatch.submit, hub.engine, kind, params.model_dump(), "manual (API, admin token)"
    )
    return JSONResponse(job.as_dict(SHOW_LOG_LINES), status_code=201)


@router.get("/{job_id}")
async def show(job_id: int, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """One job: status, progress (0..1), the log's last lines (``?log_lines=``), result or error."""
    lines = _int(request, "log_lines", SHOW_LOG_LINES, 1, queue.LOG_LINES)
    job = await run_in_threadpool(queue.get, get_hub(request).engine, job_id)
    return job.as_dict(lines)


@router.post("/{job_id}/cancel")
async def cancel(job_id: int, request: Request, _: Principal = Depends(require_admin)) -> dict[str, Any]:
    """Cancel a queued job (a running one runs to its end: 409)."""
    engine = get_hub(request).engine
    if not await run_in_threadpool(queue.cancel, engine, job_id):
        job = await run_in_threadpool(queue.get, engine, job_id)
        raise Conflict(f"job {job_id} is {job.status}; only a queued job can be cancelled")
    job = await run_in_threadpool(queue.get, engine, job_id)
    return job.as_dict(SHOW_LOG_LINES)
