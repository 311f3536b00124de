"""Device routes of updates: the assignment (ETag / 304), its bundle tar (Range / 206), reports."""

from __future__ import annotations

import collections
import re
import threading
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import Conflict, Forbidden, RequestError
from edgeloop.hub import assignments, registry, rollouts
from edgeloop.hub.deps import Principal, get_hub, require_device
from edgeloop.hub.http import read_json
from edgeloop.hub.routes.device import etag_matches
from edgeloop.hub.state import Hub
from edgeloop.validation import format_validation_error

router = APIRouter(prefix="/api/v1/device")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1)
    rollout: int | None = None
    state: str
    reason: str = Field("", max_length=4000)
    detail: dict[str, Any] | None = None


def _assignment(hub: Hub, who: Principal) -> dict[str, Any]:
    assert who.device is not None
    with hub.engine.connect() as conn:
        return assignments.assignment(conn, who.device, who.group or "default")


@router.get("/assignment")
async def assignment(request: Request, who: Principal = Depends(require_device)) -> Response:
    """{"model","version","counter","size","sha256","url","rollout"} or {"model": null}; ETag / 304."""
    body = await run_in_threadpool(_assignment, get_hub(request), who)
    tag = assignments.etag(body)
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(body, headers={"ETag": tag, "Cache-Control": "no-cache"})


class _Bundles:
    """The newest few bundle tars in memory: a fleet reads the same one in ranges, many times
    (published bundles never change)."""

    def __init__(self, entries: int = 3) -> None:
        self.entries = entries
        self.lock = threading.Lock()
        self.data: collections.OrderedDict[tuple[str, str], bytes] = collections.OrderedDict()

    def get(self, hub: Hub, model: str, version: int) -> bytes:
        found = registry.show(hub.engine, model, version)
        key = (hub.config.blobs, found.bundle_key or "")
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        data = registry.bundle_bytes(hub.blobs, found)
        with self.lock:
            self.data[key] = data
            while len(self.data) > self.entries:
                self.data.popitem(last=False)
        return data


BUNDLES = _Bundles()


def _bundle(hub: Hub, who: Principal, model: str, version: int) -> bytes:
    body = _assignment(hub, who)
    if (body.get("model"), body.get("version")) != (model, version):
        raise Forbidden(
            f"{model}@{version} is not assigned to this device; GET /api/v1/device/assignment says what is"
        )
    return BUNDLES.get(hub, model, version)


@router.get("/bundle/{model}/{version}")
async def bundle(
    model: str, version: int, request: Request, who: Principal = Depends(require_device)
) -> Response:
    """The assigned version's bundle tar; ``Range: bytes=N-`` resumes (206)."""
    data = await run_in_threadpool(_bundle, get_hub(request), who, model, version)
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
    wanted = request.headers.get("range")
    if wanted is None:
        return Response(data, media_type="application/x-tar", headers=headers)
    match = _RANGE.match(wanted.strip())
    if match is None:
        raise RequestError(f"Range {wanted[:60]!r}: send one range, bytes=START- or bytes=START-END")
    start = int(match.group(1))
    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    if start >= size or end < start:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status_code=206, media_type="application/x-tar", headers=headers)


def _report(hub: Hub, who: Principal, report: Report) -> None:
    assert who.device is not None
    if report.rollout is None:
        if not assignments.report_pinned(
            hub.engine, who.device, report.model, report.version, report.state, report.reason
        ):
            raise Conflict(
                f"device {who.device} is not pinned to {report.model}@{report.version}; report with "
                "the rollout id of its assignment"
            )
        return
    rollouts.apply_report(
        hub.engine,
        hub.events,
        who.device,
        report.rollout,
        report.model,
        report.version,
        report.state,
        report.reason,
        report.detail,
    )


@router.post("/update", status_code=204)
async def update(request: Request, who: Principal = Depends(require_device)) -> Response:
    """The agent's state for its assignment: {"model","version","rollout","state","reason","detail"}."""
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise RequestError(
            'expected a JSON object {"model", "version", "rollout", "state", "reason", "detail"}'
        )
    try:
        report = Report.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"invalid update report: {format_validation_error(exc, 'key')}") from None
    await run_in_threadpool(_report, get_hub(request), who, report)
    return Response(status_code=204)
