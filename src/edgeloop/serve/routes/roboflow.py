"""The subset of Roboflow's inference API that `inference-sdk` uses for detection and classification.

An existing `InferenceHTTPClient` only changes its URL: it lists models at
/model/registry (asking /model/add for one it does not see), then posts
base64 images to /infer/object_detection or /infer/classification.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edgeloop.errors import RequestError
from edgeloop.imaging import draw_detections, encode_jpeg
from edgeloop.postprocess.families import require_decoder
from edgeloop.serve import capture
from edgeloop.serve.http import (
    check_token,
    classes_param,
    decode_base64,
    float_param,
    int_param,
    parse_json,
    read_body,
)
from edgeloop.serve.inference import run_image
from edgeloop.serve.state import ServerState, server
from edgeloop.serve.worker import ModelWorker
from edgeloop.types import Detections

router = APIRouter()

TASK_TYPES = {"detect": "object-detection", "classify": "classification"}


def _description(worker: ModelWorker) -> dict[str, Any]:
    m = worker.predictor.bundle.manifest
    h, w = m.input.size_hw
    return {
        "model_id": m.name,
        "task_type": TASK_TYPES[m.task],
        "batch_size": 1,
        "input_height": h,
        "input_width": w,
    }


def _registry(state: ServerState) -> dict[str, Any]:
    # Raw bundles have no Roboflow task: they are served as tensors over /v2 only.
    return {"models": [_description(w) for _, w in state.manager.items() if w.predictor.task in TASK_TYPES]}


def _worker(state: ServerState, model_id: Any) -> ModelWorker:
    if not isinstance(model_id, str) or not model_id:
        raise RequestError("'model_id' is required")
    name, _, version = model_id.partition("/")
    return state.manager.get(name, version or None)


async def _payload(request: Request, state: ServerState) -> dict[str, Any]:
    payload = parse_json(await read_body(request, state.config.max_body_bytes))
    if not isinstance(payload, dict):
        raise RequestError("expected a JSON object")
    check_token(request, state.config.token, payload.get("api_key"))
    return payload


@router.get("/model/registry")
def registry(request: Request, state: ServerState = Depends(server)) -> dict[str, Any]:
    check_token(request, state.config.token)
    return _registry(state)


@router.post("/model/add")
async def add(request: Request, state: ServerState = Depends(server)) -> dict[str, Any]:
    """Models are bundles loaded at start; "adding" one that is loaded just confirms it."""
    payload = await _payload(request, state)
    _worker(state, payload.get("model_id"))
    return _registry(state)


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, dict):
        kind = image.get("type", "base64")
        if kind == "url":
            raise RequestError("URL image inputs are disabled on this server: send the image as base64")
        if kind not in ("base64", "numpy"):
            raise RequestError(f"unsupported image type {kind!r}: send {{'type': 'base64', 'value': ...}}")
        if kind == "numpy":
            raise RequestError("numpy image inputs are not accepted (they would need unpickling): use base64")
        return decode_base64(image.get("value"), "image.value")
    return decode_base64(image, "image")


async def _infer(request: Request, state: ServerState, task: str) -> Any:
    payload = await _payload(request, state)
    model_id = payload.get("model_id")
    first = _worker(state, model_id)
    require_decoder(first.predictor.bundle.manifest.family, first.name)  # raw bundles: tensors over /v2 only
    if first.predictor.task != task:
        right = "object_detection" if first.predictor.task == "detect" else "classification"
        raise RequestError(f"model '{first.name}' is a {first.predictor.task} model; use /infer/{right}")
    images = payload.get("image")
    if images is None:
        raise RequestError("'image' is required: {'type': 'base64', 'value': '<base64 data>'}")
    datas = [_image_bytes(image) for image in (images if isinstance(images, list) else [images])]
    name, _, version = str(model_id).partition("/")
    flagged = capture.flag_param(payload)

    def run(worker: ModelWorker) -> list[dict[str, Any]]:
        options = worker.predictor.options(
            conf=float_param(payload.get("confidence"), "confidence"),
            iou=float_param(payload.get("iou_threshold"), "iou_threshold"),
            max_det=int_param(payload.get("max_detections"), "max_detections"),
            classes=_class_filter(worker, payload.get("class_filter")),
            agnostic=bool(payload.get("class_agnostic_nms")) or None,
        )
        records = []
        for data in datas:
            outcome = run_image(worker, data, options, state.config.request_timeout_s)
            capture.offer(state.capture, worker, outcome, flagged)  # queued: never waits, never raises
            record = outcome.result.to_json(outcome.size_wh, outcome.seconds)
            if payload.get("visualize_predictions") and isinstance(outcome.result, Detections):
                drawn = draw_detections(outcome.image, outcome.result)
                record["visualization"] = base64.b64encode(encode_jpeg(drawn)).decode()
            records.append(record)
        return records

    responses = await run_in_threadpool(state.manager.call, name, version or None, run)
    return JSONResponse(responses if isinstance(images, list) else responses[0])


def _class_filter(worker: ModelWorker, value: Any) -> list[int] | None:
    """Roboflow filters by class name; ids are accepted too, both checked against the model."""
    return classes_param(value, worker.predictor.names)


@router.post("/infer/object_detection")
async def object_detection(request: Request, state: ServerState = Depends(server)) -> Any:
    return await _infer(request, state, "detect")


@router.post("/infer/classification")
async def classification(request: Request, state: ServerState = Depends(server)) -> Any:
    return await _infer(request, state, "classify")
