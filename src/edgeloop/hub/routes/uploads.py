"""Resumable uploads (device): POST to start or find, HEAD for the offset, PATCH chunks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.hub.deps import Principal, get_hub, require_device
from edgeloop.hub.http import read_json
from edgeloop.hub.ingest import STORED
from edgeloop.hub.uploads import append_chunk, max_chunk, start_upload, upload_offset
from edgeloop.serve.http import read_body

router = APIRouter(prefix="/api/v1/uploads")


def _device(who: Principal) -> str:
    assert who.device is not None
    return who.device


@router.post("", status_code=201)
async def start(request: Request, who: Principal = Depends(require_device)) -> JSONResponse:
    """{"sha256", "size", "meta"} -> 201 {"id", "offset"} (this device's existing upload when there
    is one), or 200 {"status": "duplicate"} when the hub already holds the image."""
    hub = get_hub(request)
    body = await read_json(request, hub.config.max_meta_bytes + 4096)
    upload = await run_in_threadpool(start_upload, hub, _device(who), body)
    if upload is None:
        return JSONResponse({"sha256": body["sha256"].lower(), "status": "duplicate"}, status_code=200)
    return JSONResponse({"id": upload.id, "offset": upload.received, "size": upload.size}, status_code=201)


@router.head("/{upload_id}", status_code=204)
async def offset(upload_id: str, request: Request, who: Principal = Depends(require_device)) -> Response:
    """204 with ``Upload-Offset``: the bytes received so far."""
    received = await run_in_threadpool(upload_offset, get_hub(request), _device(who), upload_id)
    return Response(status_code=204, headers={"Upload-Offset": str(received), "Cache-Control": "no-store"})


@router.patch("/{upload_id}", status_code=204)
async def append(upload_id: str, request: Request, who: Principal = Depends(require_device)) -> Response:
    """Append the body at ``Upload-Offset`` (409 if that is not the current offset); the last chunk
    stores the sample and answers like POST /api/v1/samples (201 stored, 200 duplicate)."""
    hub = get_hub(request)
    header = request.headers.get("upload-offset")
    if header is None or not header.isdigit():
        raise RequestError("missing or invalid Upload-Offset header: send the offset HEAD returned")
    at = int(header)
    room = await run_in_threadpool(max_chunk, hub, _device(who), upload_id, at)
    data = await read_body(request, room)
    upload, status = await run_in_threadpool(append_chunk, hub, _device(who), upload_id, at, data)
    headers = {"Upload-Offset": str(upload.received)}
    if status is None:
        return Response(status_code=204, headers=headers)
    body = {"sha256": upload.sha256, "status": status}
    return JSONResponse(body, status_code=201 if status == STORED else 200, headers=headers)
