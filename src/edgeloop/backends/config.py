"""One typed backend configuration: a discriminated union on ``type`` of every backend's config.

Built once at each boundary (CLI flags, the server's settings, YAML, HTTP bodies)
and passed down as an object. Importing this module imports no runtime library:
each config is plain pydantic, and the backend modules import their runtime
inside methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from edgeloop.backends.base import BackendSettings, settings_error
from edgeloop.backends.depthai import DepthAiConfig
from edgeloop.backends.litert import LiteRtConfig
from edgeloop.backends.ncnn import NcnnConfig
from edgeloop.backends.null import NullConfig
from edgeloop.backends.onnxruntime import OnnxRuntimeConfig
from edgeloop.backends.openvino import OpenVinoConfig
from edgeloop.backends.tensorrt import TensorRtConfig
from edgeloop.errors import ConfigError

# Adding a backend: its config class here and one line in the BACKENDS registry.
BackendConfig = Annotated[
    OnnxRuntimeConfig
    | OpenVinoConfig
    | TensorRtConfig
    | DepthAiConfig
    | LiteRtConfig
    | NcnnConfig
    | NullConfig,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[BackendConfig] = TypeAdapter(BackendConfig)


def parse_backend_config(data: BackendSettings | Mapping[str, Any] | str) -> BackendConfig:
    """Validate backend settings from YAML or JSON: ``{"type": "openvino", "threads": 2}``.

    A bare name (``"openvino"``) means that backend with its default settings.

    Raises:
        ConfigError: an unknown ``type`` or a bad setting, naming the key and what is allowed.
    """
    if isinstance(data, BackendSettings):
        data = data.model_dump()
    if isinstance(data, str):
        data = {"type": data}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"backend settings must be a mapping with a 'type' key (or a backend name), got {data!r}"
        )
    tag = data.get("type")
    names = backend_names()
    if tag not in names:
        what = "no 'type' key" if tag is None else f"unknown backend {tag!r}"
        raise ConfigError(f"backend settings: {what}; set type to one of {', '.join(names)}")
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        raise settings_error(exc, str(tag)) from None


def backend_config(name: str, device: str | None = None, threads: int = 0) -> BackendConfig:
    """The settings that ``--backend``, ``--device`` and ``--threads`` ask for.

    ``device`` None keeps the backend's default device; ``threads`` 0 lets the runtime decide.

    Raises:
        ConfigError: an unknown backend, a device it does not have, or ``--threads`` for a
            backend that cannot honour it.
    """
    if name not in backend_names():
        raise ConfigError(f"--backend: unknown backend {name!r}; choose one of {', '.join(backend_names())}")
    config = parse_backend_config(name)
    if device is not None:
        config = with_device(config, device)
    return config.with_threads(threads)


def with_device(config: BackendConfig, device: str) -> BackendConfig:
    """``config`` on another device.

    Raises:
        ConfigError: the backend has no device setting, or not this device.
    """
    field = config.device_field
    if field is None:
        raise ConfigError(
            f"--device: backend '{config.backend_name}' has no device to choose; leave --device out"
        )
    try:
        return config.replace({field: device})
    except ConfigError as exc:
        raise ConfigError(f"--device: {exc}") from None


def sharing_process(config: BackendConfig) -> BackendConfig:
    """``config`` for a model that shares the process with other busy models (interleaved
    measurements, pipelines beside a server): ONNX Runtime (and ncnn's OpenMP) threads that
    busy-wait between runs would take the others' cores, so spinning is off unless asked for."""
    if isinstance(config, OnnxRuntimeConfig) and config.allow_spinning is None:
        return config.replace({"allow_spinning": False})
    if isinstance(config, NcnnConfig) and config.openmp_blocktime is None:
        return config.replace({"openmp_blocktime": 0})
    return config


def backend_names() -> list[str]:
    """The ``type`` of every config in the union, in order."""
    return [str(cls.model_fields["type"].default) for cls in _members()]


def _members() -> tuple[type[BackendSettings], ...]:
    return (
        OnnxRuntimeConfig,
        OpenVinoConfig,
        TensorRtConfig,
        DepthAiConfig,
        LiteRtConfig,
        NcnnConfig,
        NullConfig,
    )


__all__ = [
    "BackendConfig",
    "DepthAiConfig",
    "LiteRtConfig",
    "NcnnConfig",
    "NullConfig",
    "OnnxRuntimeConfig",
    "OpenVinoConfig",
    "TensorRtConfig",
    "backend_config",
    "backend_names",
    "parse_backend_config",
    "sharing_process",
    "with_device",
]
