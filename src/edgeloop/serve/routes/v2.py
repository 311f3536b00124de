"""The Open Inference Protocol (KServe v2), with Triton's binary tensor extension.

Any bundle is served as raw tensors here: the client sends the model's input
tensors and gets its outputs, with no image decoding or result decoding.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from edgeloop import __version__
from edgeloop.errors import RequestError
from edgeloop.serve.http import parse_json, read_body
from edgeloop.serve.inference import run_tensors
from edgeloop.serve.state import ServerState, authorized, server
from edgeloop.serve.worker import ModelWorker
from edgeloop.types import TensorSpec

router = APIRouter(prefix="/v2")

DATATYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
_BY_NUMPY = {np.dtype(v).name: k for k, v in DATATYPES.items()}
HEADER_LENGTH = "Inference-Header-Content-Length"


def datatype_of(spec_dtype: str) -> str:
    """OIP datatype name of a numpy dtype name ('float32' -> 'FP32')."""
    return _BY_NUMPY.get(spec_dtype, "BYTES")


def _tensor_meta(spec: TensorSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": datatype_of(spec.dtype),
        "shape": [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape],
    }


@router.get("")
def server_metadata() -> dict[str, Any]:
    return {
        "name": "edgeloop",
        "version": __version__,
        "extensions": ["binary_tensor_data", "model_repository"],
    }


@router.get("/health/live")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
def ready(state: ServerState = Depends(server)) -> JSONResponse:
    is_ready = state.manager.ready
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


def _metadata(worker: ModelWorker) -> dict[str, Any]:
    spec = worker.predictor.model_spec
    return {
        "name": worker.name,
        "versions": [worker.version],
        "platform": "onnxruntime_onnx",
        "inputs": [_tensor_meta(t) for t in spec.inputs],
        "outputs": [_tensor_meta(t) for t in spec.outputs],
    }


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
def model_metadata(
    name: str, version: str | None = None, state: ServerState = Depends(authorized)
) -> dict[str, Any]:
    return _metadata(state.manager.get(name, version))


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
def model_ready(
    name: str, version: str | None = None, state: ServerState = Depends(authorized)
) -> JSONResponse:
    worker = state.manager.get(name, version)
    return JSONResponse({"name": name, "ready": worker.ready}, status_code=200 if worker.ready else 503)


def split_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(JSON header, trailing binary data) of an infer request."""
    if header_length is None:
        payload = parse_json(body)
        blob = b""
    else:
        try:
            n = int(header_length)
        except ValueError:
            raise RequestError(f"invalid {HEADER_LENGTH} header: {header_length!r}") from None
        if not 0 < n <= len(body):
            raise RequestError(f"{HEADER_LENGTH} {n} does not fit a body of {len(body)} bytes")
        payload, blob = parse_json(body[:n]), body[n:]
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise RequestError("infer request needs an 'inputs' list")
    return payload, blob


def decode_inputs(
    payload: dict[str, Any], blob: bytes, specs: tuple[TensorSpec, ...]
) -> dict[str, npt.NDArray[Any]]:
    """Named numpy inputs from JSON data or binary chunks, checked against the model."""
    by_name = {s.name: s for s in specs}
    arrays: dict[str, npt.NDArray[Any]] = {}
    offset = 0
    for item in payload["inputs"]:
        if not isinstance(item, dict):
            raise RequestError("each input must be an object with name, shape, datatype and data")
        name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
        if not isinstance(name, str) or name not in by_name:
            raise RequestError(f"unknown input {name!r}: the model takes {', '.join(by_name)}")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            raise RequestError(f"input '{name}': unsupported datatype {datatype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise RequestError(f"input '{name}': shape must be a list of non-negative integers")
        dtype = np.dtype(DATATYPES[datatype])
        count = math.prod(shape)  # exact: numpy's product wraps around on huge shapes
        size = _parameters(item, f"input '{name}'").get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size != count * dtype.itemsize or offset + size > len(blob):
                raise RequestError(
                    f"input '{name}': binary_data_size {size!r} does not match shape "
                    f"{shape} of {datatype} or the data sent",
                )
            array = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
            offset += size
        else:
            try:
                array = np.asarray(item.get("data"), dtype=dtype)
            except (TypeError, ValueError, OverflowError):
                raise RequestError(f"input '{name}': data is not a list of {datatype} values") from None
            if array.size != count:
                raise RequestError(f"input '{name}': {array.size} values for shape {shape}")
        try:
            array = array.reshape(shape)
        except ValueError as exc:  # e.g. more than numpy's 32 dimensions
            raise RequestError(f"input '{name}': shape {shape}: {exc}") from None
        check_input(array, datatype, by_name[name])
        arrays[name] = array
    missing = [n for n in by_name if n not in arrays]
    if missing:
        raise RequestError(f"missing input(s): {', '.join(missing)}")
    return arrays


def _parameters(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """The optional ``parameters`` object of a request, input or output."""
    parameters = obj.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(f"{where}: 'parameters' must be an object, got {parameters!r}")
    return parameters


def check_input(array: npt.NDArray[Any], datatype: str, spec: TensorSpec) -> None:
    """Refuse a tensor whose datatype, rank or fixed dimensions differ from the model's."""
    want = datatype_of(spec.dtype)
    if datatype != want:
        raise RequestError(f"input '{spec.name}': datatype {datatype}, the model takes {want}")
    if array.ndim != len(spec.shape) or any(
        isinstance(d, int) and d > 0 and d != a for d, a in zip(spec.shape, array.shape, strict=True)
    ):
        shape = [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape]
        raise RequestError(f"input '{spec.name}': shape {list(array.shape)}, the model takes {shape}")


def encode_outputs(
    payload: dict[str, Any],
    outputs: list[npt.NDArray[Any]],
    specs: tuple[TensorSpec, ...],
    worker: ModelWorker,
) -> Response:
    """The infer response: JSON, plus binary tensors when asked for."""
    default_binary = bool(_parameters(payload, "infer request").get("binary_data_output", False))
    wanted = payload.get("outputs")
    names = [s.name for s in specs]
    if wanted is None:
        requested = [(n, default_binary) for n in names]
    else:
        if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
            raise RequestError("'outputs' must be a list of objects with a 'name'")
        requested = []
        for o in wanted:
            if o.get("name") not in names:
                raise RequestError(f"unknown output '{o.get('name')}': the model has {', '.join(names)}")
            requested.append(
                (o["name"], bool(_parameters(o, f"output '{o['name']}'").get("binary_data", default_binary)))
            )
    results, blobs = [], []
    for name, binary in requested:
        array = np.ascontiguousarray(outputs[names.index(name)])
        entry: dict[str, Any] = {
            "name": name,
            "datatype": _BY_NUMPY.get(array.dtype.name, "BYTES"),
            "shape": list(array.shape),
        }
        if binary:
            raw = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = array.reshape(-1).tolist()
        results.append(entry)
    body: dict[str, Any] = {"model_name": worker.name, "model_version": worker.version, "outputs": results}
    if "id" in payload:
        body["id"] = payload["id"]
    header = json.dumps(body).encode()
    if not blobs:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


@router.post("/models/{name}/infer")
@router.post("/models/{name}/versions/{version}/infer")
async def infer(
    name: str, request: Request, version: str | None = None, state: ServerState = Depends(authorized)
) -> Response:
    """Run the model on raw tensors (JSON or binary)."""
    state.manager.get(name, version)  # 404 before reading a large body
    body = await read_body(request, state.config.max_body_bytes)
    payload, blob = split_request(body, request.headers.get(HEADER_LENGTH))

    def run(worker: ModelWorker) -> Response:
        spec = worker.predictor.model_spec
        inputs = decode_inputs(payload, blob, spec.inputs)
        outputs = run_tensors(worker, inputs, state.config.request_timeout_s)
        return encode_outputs(payload, outputs, spec.outputs, worker)

    return await run_in_threadpool(state.manager.call, name, version, run)


@router.post("/repository/index")
def repository_index(state: ServerState = Depends(authorized)) -> list[dict[str, str]]:
    return state.manager.index()


@router.post("/repository/models/{name}/load")
async def repository_load(name: str, state: ServerState = Depends(authorized)) -> dict[str, str]:
    await run_in_threadpool(state.manager.reload, name)
    return {"loaded": name}


@router.post("/repository/models/{name}/unload")
async def repository_unload(name: str, state: ServerState = Depends(authorized)) -> dict[str, str]:
    await run_in_threadpool(state.manager.unload, name)
    return {"unloaded": name}
