"""The native API: list models, predict on images, load/reload/unload bundles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError, UnsupportedMediaType
from edgeloop.imaging import draw_detections, encode_jpeg
from edgeloop.postprocess.families import require_decoder
from edgeloop.serve import capture
from edgeloop.serve.http import (
    classes_param,
    decode_base64,
    float_param,
    int_param,
    parse_json,
    read_body,
)
from edgeloop.serve.inference import Outcome, run_image
from edgeloop.serve.state import ServerState, authorized
from edgeloop.serve.worker import ModelWorker
from edgeloop.types import Detections

router = APIRouter(prefix="/v1")
VERSION_HEADER = "X-Model-Version"


def describe(worker: ModelWorker) -> dict[str, Any]:
    m = worker.predictor.bundle.manifest
    h, w = m.input.size_hw
    return {
        "name": m.name,
        "version": m.version,
        "task": m.task,
        "family": m.family,
        "classes": m.names,
        "input": {"width": w, "height": h},
        "ready": worker.ready,
        "queue_depth": worker.queue_depth,
    }


@router.get("/models")
def list_models(state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """Every loaded model."""
    return {"models": [describe(w) for _, w in state.manager.items()]}


async def image_and_params(request: Request, limit: int) -> tuple[bytes, dict[str, Any]]:
    """The image bytes and parameters of a predict request, whatever its content type."""
    body = await read_body(request, limit)
    params: dict[str, Any] = dict(request.query_params)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind.startswith("multipart/form-data"):
        form = await request.form()
        files = [v for v in form.values() if hasattr(v, "read")]
        if not files:
            raise RequestError("multipart upload has no file: send the image as a file field")
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return await files[0].read(), params
    if kind == "application/json":
        payload = parse_json(body)
        if not isinstance(payload, dict) or "image" not in payload:
            raise RequestError("JSON body needs an 'image' field holding base64 data")
        image = payload.pop("image")
        if isinstance(image, dict):
            image = image.get("value")
        params.update(payload)
        return decode_base64(image), params
    if kind.startswith("image/") or kind in ("application/octet-stream", ""):
        if not body:
            raise RequestError("empty body: send the image bytes")
        return body, params
    raise UnsupportedMediaType(
        f"unsupported content type '{kind}': send image bytes, multipart/form-data or JSON with base64"
    )


@router.post("/models/{name}/predict", response_model=None)
async def predict(name: str, request: Request, state: ServerState = Depends(authorized)) -> Response:
    """Detect or classify: raw image bytes, multipart upload, or JSON {"image": base64}."""
    manifest = state.manager.get(name).predictor.bundle.manifest  # 404 before reading a large body
    require_decoder(manifest.family, manifest.name)  # raw bundles: tensors over /v2 only
    data, params = await image_and_params(request, state.config.max_body_bytes)
    conf = float_param(params.get("conf", params.get("confidence")), "conf")
    iou = float_param(params.get("iou"), "iou")
    max_det = int_param(params.get("max_det"), "max_det")
    classes = params.get("classes")
    flagged = capture.flag_param(params)

    def run(worker: ModelWorker) -> Outcome:
        class_ids = classes_param(classes, worker.predictor.names)
        options = worker.predictor.options(conf=conf, iou=iou, max_det=max_det, classes=class_ids)
        outcome = run_image(worker, data, options, state.config.request_timeout_s)
        capture.offer(state.capture, worker, outcome, flagged)  # queued: never waits, never raises
        return outcome

    outcome = await run_in_threadpool(state.manager.call, name, None, run)
    headers = {VERSION_HEADER: outcome.version}  # which version answered (it can change: serve --models)
    if params.get("format") == "image":
        drawn = (
            draw_detections(outcome.image, outcome.result)
            if isinstance(outcome.result, Detections)
            else outcome.image
        )
        return Response(await run_in_threadpool(encode_jpeg, drawn), media_type="image/jpeg", headers=headers)
    return JSONResponse(outcome.result.to_json(outcome.size_wh, outcome.seconds), headers=headers)


@router.get("/capture")
def capture_status(state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """Capture from requests: whether it is on (--capture), and its counters."""
    return capture.status(state.capture, state.config)


@router.post("/models")
async def load_model(request: Request, state: ServerState = Depends(authorized)) -> JSONResponse:
    """Load a bundle from a path on the server: {"path": "/opt/models/x"}."""
    payload = parse_json(await read_body(request, 64 * 1024))
    if not isinstance(payload, dict) or not isinstance(payload.get("path"), str):
        raise RequestError('send {"path": "<bundle folder or .tar on the server>"}')
    worker = await run_in_threadpool(state.manager.load, payload["path"])
    return JSONResponse(describe(worker), status_code=201)


@router.post("/models/{name}/reload")
async def reload_model(name: str, state: ServerState = Depends(authorized)) -> dict[str, Any]:
    """Load the bundle again from disk; requests in flight finish on the old copy."""
    return describe(await run_in_threadpool(state.manager.reload, name))


@router.delete("/models/{name}")
async def unload_model(name: str, state: ServerState = Depends(authorized)) -> dict[str, str]:
    """Stop serving a model once its queued requests are done."""
    await run_in_threadpool(state.manager.unload, name)
    return {"unloaded": name}
