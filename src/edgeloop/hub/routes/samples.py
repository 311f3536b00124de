"""Sample routes: upload one or a batch (device), list and read (admin: all; device: its own)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import EdgeloopError, PayloadTooLarge, RequestError
from edgeloop.hub.deps import Principal, get_hub, require_any, require_device
from edgeloop.hub.http import MULTIPART_OVERHEAD, Part, read_form
from edgeloop.hub.ingest import STORED, check_sha, parse_meta, store_sample
from edgeloop.hub.samples import SampleFilter, get_image, get_sample, list_samples
from edgeloop.hub.state import Hub
from edgeloop.serve.http import float_param, int_param, status_of

router = APIRouter(prefix="/api/v1/samples")


def _pairs(parts: list[Part]) -> list[tuple[bytes, bytes]]:
    """(meta, image) pairs from parts in order: meta, image, meta, image, ..."""
    names = [name for name, _ in parts]
    if len(parts) % 2 or any(n != ("meta", "image")[i % 2] for i, n in enumerate(names)):
        raise RequestError(f"expected parts 'meta' then 'image' for each sample, got {names[:8]}")
    return [(parts[i][1], parts[i + 1][1]) for i in range(0, len(parts), 2)]


@router.post("", status_code=201)
async def upload(request: Request, who: Principal = Depends(require_device)) -> JSONResponse:
    """Store one sample: 201 stored, 200 duplicate; 400 / 413 / 415 with the reason."""
    hub = get_hub(request)
    config = hub.config
    key = check_sha(request.headers.get("idempotency-key"))
    limit = config.max_sample_bytes + config.max_meta_bytes + MULTIPART_OVERHEAD
    parts = dict(await read_form(request, limit, 2))
    if "image" not in parts:
        raise RequestError("missing 'image' part: send the image file")
    meta = parse_meta(parts.get("meta"), config.max_meta_bytes)
    assert who.device is not None
    status = await run_in_threadpool(store_sample, hub, who.device, key, parts["image"], meta)
    return JSONResponse({"sha256": key, "status": status}, status_code=201 if status == STORED else 200)


def _one(hub: Hub, device: str, meta_raw: bytes, image: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(image).hexdigest()
    try:
        meta = parse_meta(meta_raw, hub.config.max_meta_bytes)
        status = store_sample(hub, device, sha, image, meta)
    except EdgeloopError as exc:
        return {"sha256": sha, "code": status_of(exc)[0], "status": "rejected", "error": str(exc)}
    return {"sha256": sha, "code": 201 if status == STORED else 200, "status": status}


@router.post("/batch")
async def batch(request: Request, who: Principal = Depends(require_device)) -> dict[str, Any]:
    """Store up to 64 samples; each gets its own result (stored, duplicate or rejected with a code)."""
    hub = get_hub(request)
    config = hub.config
    limit = config.max_batch_bytes + MULTIPART_OVERHEAD
    parts = await read_form(request, limit, 2 * config.max_batch_items + 1)
    pairs = _pairs(parts)
    if len(pairs) > config.max_batch_items:
        raise PayloadTooLarge(f"{len(pairs)} samples in one batch: at most {config.max_batch_items}")
    assert who.device is not None
    device = who.device

    def run() -> list[dict[str, Any]]:
        return [_one(hub, device, meta, image) for meta, image in pairs]

    return {"results": await run_in_threadpool(run)}


@router.get("")
async def samples(request: Request, who: Principal = Depends(require_any)) -> dict[str, Any]:
    """Samples newest first; filters device, sampler, class, status, since, until, limit, after."""
    q = request.query_params
    big = 1e12
    flt = SampleFilter(
        device=q.get("device") or None,
        sampler=q.get("sampler") or None,
        class_name=q.get("class") or None,
        status=q.get("status") or None,
        since=float_param(q.get("since"), "since", 0, big),
        until=float_param(q.get("until"), "until", 0, big),
        limit=int_param(q.get("limit"), "limit", 1, 1000) or 100,
        after=q.get("after") or None,
    )
    return await run_in_threadpool(list_samples, get_hub(request), who, flt)


@router.get("/{sha256}")
async def sample(sha256: str, request: Request, who: Principal = Depends(require_any)) -> dict[str, Any]:
    """One sample's row (a device reads only its own: another's is 404)."""
    return await run_in_threadpool(get_sample, get_hub(request), sha256.lower(), who)


@router.get("/{sha256}/image")
async def image(sha256: str, request: Request, who: Principal = Depends(require_any)) -> Response:
    """The sample's image bytes."""
    data, media_type = await run_in_threadpool(get_image, get_hub(request), sha256.lower(), who)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"})
