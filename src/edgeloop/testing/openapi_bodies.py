"""Request bodies for the server routes that read their own body, for the OpenAPI fuzzer.

Those routes accept several content types (image bytes, multipart, JSON), so
``/openapi.json`` declares no body for them; ``spec_with_bodies`` adds these
schemas so that schemathesis builds (and breaks) the bodies that reach their parsers.
"""

from __future__ import annotations

from typing import Any

_NUMBERS = {"type": "array", "items": {"type": "number"}}
_OIP_TENSOR = {
    "type": "object",
    "properties": {
        "name": {"enum": ["images", "input", ""]},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"enum": ["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"]},
        "data": _NUMBERS,
        "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer"}}},
    },
    "required": ["name", "shape", "datatype"],
}
_OIP_REQUEST = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _OIP_TENSOR},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
    },
    "required": ["inputs"],
}
_PREDICT_JSON = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "byte"},
        "conf": {"type": "number"},
        "iou": {"type": "number"},
        "max_det": {"type": "integer"},
        "classes": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]},
        "format": {"enum": ["json", "image"]},
    },
    "required": ["image"],
}


def _roboflow(model: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "model_id": {"enum": [model, f"{model}/1", f"{model}/9", "missing"]},
            "api_key": {"type": "string"},
            "image": {
                "type": "object",
                "properties": {"type": {"enum": ["base64", "url", "numpy"]}, "value": {"type": "string"}},
            },
            "confidence": {"type": "number"},
            "iou_threshold": {"type": "number"},
            "max_detections": {"type": "integer"},
            "class_filter": {"type": "array", "items": {"type": "string"}},
            "class_agnostic_nms": {"type": "boolean"},
            "visualize_predictions": {"type": "boolean"},
        },
        "required": ["model_id", "image"],
    }


def bodies(model: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Request bodies per (method, path), with ``model`` as the Roboflow model id."""
    roboflow = {"application/json": {"schema": _roboflow(model)}}
    return {
        ("post", "/v1/models/{name}/predict"): {
            "application/json": {"schema": _PREDICT_JSON},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        },
        ("post", "/v1/models"): {
            "application/json": {"schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
        },
        ("post", "/v2/models/{name}/infer"): {"application/json": {"schema": _OIP_REQUEST}},
        ("post", "/v2/models/{name}/versions/{version}/infer"): {
            "application/json": {"schema": _OIP_REQUEST}
        },
        ("post", "/model/add"): roboflow,
        ("post", "/infer/object_detection"): roboflow,
        ("post", "/infer/classification"): roboflow,
    }


def spec_with_bodies(spec: dict[str, Any], model: str) -> dict[str, Any]:
    """The server's OpenAPI document with ``bodies`` declared on the routes that lack them."""
    for (method, path), content in bodies(model).items():
        operation = spec["paths"].get(path, {}).get(method)
        if operation is not None and "requestBody" not in operation:
            operation["requestBody"] = {"required": True, "content": content}
    return spec
