"""edgeloop: offline-first computer vision from dataset to edge devices.

The flat public API is imported lazily so that ``import edgeloop`` stays fast
and never pulls in a runtime library you do not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Detections": "edgeloop.types",
    "Classification": "edgeloop.types",
    "ModelSpec": "edgeloop.types",
    "TensorSpec": "edgeloop.types",
    "EdgeloopError": "edgeloop.errors",
    "Bundle": "edgeloop.bundle",
    "load_bundle": "edgeloop.bundle",
    "pack": "edgeloop.bundle",
    "unpack": "edgeloop.bundle",
    "Predictor": "edgeloop.predictor",
    "import_onnx": "edgeloop.importer",
    "decode_image": "edgeloop.imaging",
    "read_image": "edgeloop.imaging",
}

__all__ = [
    "Bundle",
    "Classification",
    "Detections",
    "EdgeloopError",
    "ModelSpec",
    "Predictor",
    "TensorSpec",
    "__version__",
    "decode_image",
    "import_onnx",
    "load_bundle",
    "pack",
    "read_image",
    "unpack",
]

if TYPE_CHECKING:
    from edgeloop.bundle import Bundle, load_bundle, pack, unpack
    from edgeloop.errors import EdgeloopError
    from edgeloop.imaging import decode_image, read_image
    from edgeloop.importer import import_onnx
    from edgeloop.predictor import Predictor
    from edgeloop.types import Classification, Detections, ModelSpec, TensorSpec


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'edgeloop' has no attribute '{name}'")
