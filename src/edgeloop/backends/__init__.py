"""Backends registry: name -> backend class, imported on first use."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from edgeloop.backends.base import Backend
from edgeloop.errors import BackendError
from edgeloop.registry import Registry
from edgeloop.validation import format_validation_error

BACKENDS = Registry(
    "backend",
    {
        "onnxruntime": "edgeloop.backends.onnxruntime:OnnxRuntimeBackend",
        "openvino": "edgeloop.backends.openvino:OpenVinoBackend",
        "tensorrt": "edgeloop.backends.tensorrt:TensorRtBackend",
        "null": "edgeloop.backends.null:NullBackend",
    },
    BackendError,
)

_INSTALL = {
    "onnxruntime": "pip install onnxruntime",
    "tensorrt": "pip install 'edgeloop[tensorrt]' on a machine with an NVIDIA GPU and driver",
}


def create_backend(name: str, **config: Any) -> Backend:
    """Build a backend by registry name, validating ``config`` with its pydantic model.

    Raises:
        BackendError: unknown name, runtime not installed, or invalid settings.
    """
    cls = BACKENDS.get(name)
    if not cls.available():
        hint = _INSTALL.get(name, f"pip install 'edgeloop[{name}]'")
        raise BackendError(f"backend '{name}' unavailable here: {hint}")
    try:
        settings = cls.Config(**config)
    except ValidationError as exc:
        problems = format_validation_error(exc, "setting", model=cls.Config)
        raise BackendError(f"invalid settings for backend '{name}': {problems}") from None
    backend: Backend = cls(settings)
    return backend


__all__ = ["BACKENDS", "Backend", "create_backend"]
