"""Backends registry: name -> backend class, imported on first use; and their typed settings."""

from __future__ import annotations

from edgeloop.backends.base import Backend, BackendSettings, Capabilities
from edgeloop.backends.config import (
    BackendConfig,
    DepthAiConfig,
    LiteRtConfig,
    NcnnConfig,
    NullConfig,
    OnnxRuntimeConfig,
    OpenVinoConfig,
    TensorRtConfig,
    backend_config,
    parse_backend_config,
)
from edgeloop.errors import BackendError
from edgeloop.registry import Registry

BACKENDS = Registry(
    "backend",
    {
        "onnxruntime": "edgeloop.backends.onnxruntime:OnnxRuntimeBackend",
        "openvino": "edgeloop.backends.openvino:OpenVinoBackend",
        "tensorrt": "edgeloop.backends.tensorrt:TensorRtBackend",
        "depthai": "edgeloop.backends.depthai:DepthAiBackend",
        "litert": "edgeloop.backends.litert:LiteRtBackend",
        "ncnn": "edgeloop.backends.ncnn:NcnnBackend",
        "null": "edgeloop.backends.null:NullBackend",
    },
    BackendError,
)

_INSTALL = {
    "onnxruntime": "pip install onnxruntime",
    "tensorrt": "pip install 'edgeloop[tensorrt]' on a machine with an NVIDIA GPU and driver",
    "depthai": "pip install 'edgeloop[depthai]' and connect an OAK camera",
    "litert": "pip install 'edgeloop[litert]'",
    "ncnn": "pip install 'edgeloop[ncnn]'",
}


def create_backend(config: BackendConfig) -> Backend:
    """Build the backend that ``config`` (from ``parse_backend_config`` or ``backend_config``) names.

    Raises:
        BackendError: the runtime is not installed here.
    """
    name = config.type
    cls = BACKENDS.get(name)
    if not cls.available():
        hint = _INSTALL.get(name, f"pip install 'edgeloop[{name}]'")
        raise BackendError(f"backend '{name}' unavailable here: {hint}")
    backend: Backend = cls(config)
    return backend


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "BackendSettings",
    "Capabilities",
    "DepthAiConfig",
    "LiteRtConfig",
    "NcnnConfig",
    "NullConfig",
    "OnnxRuntimeConfig",
    "OpenVinoConfig",
    "TensorRtConfig",
    "backend_config",
    "create_backend",
    "parse_backend_config",
]
