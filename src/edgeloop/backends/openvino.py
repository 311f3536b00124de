"""OpenVINO backend: Intel CPUs, integrated GPUs and NPUs (and any x86/ARM CPU).

Reads OpenVINO IR (``model.xml`` + ``model.bin``, written by ``edgeloop
optimize --openvino``) or ONNX directly. ONNX Runtime's QDQ INT8 models run
as INT8 here too: OpenVINO folds the Quantize/Dequantize pairs into int8 kernels.

It also runs on OpenVINO 2022.3 LTS, the last release with the MYRIAD plugin
(Intel Movidius NCS2, device ``MYRIAD``; the ``ncs2`` deploy target): that
release keeps its API in ``openvino.runtime`` rather than at the top level, and
the backend uses only calls both releases have. Untested on hardware.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.errors import BackendError, ConfigError
from edgeloop.types import ModelSpec, TensorSpec

_HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT", "cumulative_throughput": "CUMULATIVE_THROUGHPUT"}
_PRECISIONS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


def import_openvino() -> Any:
    """Import ``openvino`` with its usage telemetry off; the module that holds ``Core``.

    ``import openvino`` sends a usage event unless the user opted out in a file
    in their home folder; edgeloop never phones home. When the
    ``openvino_telemetry`` package cannot be imported, OpenVINO falls back to its
    own no-op stub, so it is hidden for the duration of the first import only.
    OpenVINO 2022.3 has its API in ``openvino.runtime`` only (2023.1 and newer
    also at the top level, where 2026 keeps it alone).
    """
    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        try:
            import openvino
        finally:
            del sys.modules["openvino_telemetry"]
        return runtime_api(openvino)
    import openvino

    return runtime_api(openvino)


def runtime_api(openvino: Any) -> Any:
    """``openvino`` itself where it has ``Core`` (2023.1+), else ``openvino.runtime`` (2022.x)."""
    if hasattr(openvino, "Core"):
        return openvino
    return importlib.import_module("openvino.runtime")


class OpenVinoConfig(BackendSettings):
    """Settings for the OpenVINO backend."""

    threads_field: ClassVar[str | None] = "threads"

    type: Literal["openvino"] = "openvino"
    device: Literal["CPU", "GPU", "NPU", "AUTO", "MYRIAD"] = Field(
        default="CPU", description="MYRIAD: an Intel Movidius NCS2, with OpenVINO 2022.3 only"
    )
    performance_hint: Literal["latency", "throughput", "cumulative_throughput"] = "latency"
    threads: int = Field(default=0, ge=0, description="CPU inference threads; 0 lets OpenVINO choose")
    precision_hint: Literal["auto", "f32", "bf16", "f16"] = Field(
        default="auto",
        description="auto = f32 on CPU (OpenVINO's bf16 default was slower and less exact on CPUs "
        "without AMX), the device's own default elsewhere",
    )
    cache_dir: str | None = Field(
        default=None, description="compiled-model cache (saves GPU/NPU compile time on later loads)"
    )

    @field_validator("device", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value  # --device cpu works too

    def capabilities(self) -> Capabilities:
        """``infer`` serializes on the one infer request (a lock), so calls from several
        threads are safe but do not overlap: one worker. Threads are a CPU setting."""
        return Capabilities(
            thread_safe=True,
            preferred_workers=1,
            dynamic_shapes=True,
            threads_setting=self.device in ("CPU", "AUTO"),
        )

    def with_threads(self, threads: int) -> OpenVinoConfig:
        """INFERENCE_NUM_THREADS is a CPU property: refused on a GPU or NPU."""
        if threads and not self.capabilities().threads_setting:
            raise ConfigError(
                f"--threads: OpenVINO sets CPU inference threads, not {self.device} ones; "
                "leave --threads out with this device"
            )
        return super().with_threads(threads)


class OpenVinoBackend:
    """Runs ``.xml`` (OpenVINO IR) and ``.onnx`` files with the OpenVINO runtime."""

    name = "openvino"
    Config = OpenVinoConfig

    def __init__(self, config: OpenVinoConfig | None = None) -> None:
        self.config = config or OpenVinoConfig()
        self._compiled: Any = None
        self._request: Any = None
        self._inputs: list[str] = []
        self._outputs = 0
        # One infer request is not safe to use from two threads at once.
        self._lock = threading.Lock()

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("openvino") is not None

    def properties(self) -> dict[str, Any]:
        """The OpenVINO compile properties these settings ask for."""
        props: dict[str, Any] = {"PERFORMANCE_HINT": _HINTS[self.config.performance_hint]}
        if self.config.threads:
            props["INFERENCE_NUM_THREADS"] = self.config.threads
        precision = self.config.precision_hint
        if precision == "auto" and self.config.device == "CPU":
            precision = "f32"
        if precision != "auto":
            props["INFERENCE_PRECISION_HINT"] = _PRECISIONS[precision]
        if self.config.cache_dir:
            props["CACHE_DIR"] = self.config.cache_dir
        return props

    def load(self, model_path: Path) -> ModelSpec:
        ov = import_openvino()
        model_path = Path(model_path)
        core = ov.Core()
        device = self.config.device
        if device != "AUTO" and device not in core.available_devices:
            have = ", ".join(core.available_devices) or "none"
            raise BackendError(
                f"OpenVINO device '{device}' not found here (available: {have}); "
                f"{_FIX.get(device, 'install its driver')} or use device CPU or AUTO"
            )
        try:
            model = core.read_model(str(model_path))
            self._compiled = core.compile_model(model, device, self.properties())
        except Exception as exc:  # OpenVINO raises RuntimeError with its own message
            raise BackendError(f"OpenVINO could not load {model_path.name}: {exc}") from None
        self._request = self._compiled.create_infer_request()
        self._inputs = [p.get_any_name() for p in self._compiled.inputs]
        self._outputs = len(self._compiled.outputs)
        return ModelSpec(
            inputs=tuple(_spec(p) for p in model.inputs),
            outputs=tuple(_spec(p) for p in model.outputs),
            metadata=_metadata(model),
        )

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if self._request is None:
            raise BackendError("openvino backend: call load() before infer()")
        with self._lock:
            try:
                self._request.infer(dict(inputs))
            except Exception as exc:
                raise BackendError(f"OpenVINO inference failed: {exc}") from None
            # The request reuses its output buffers on the next call: hand out copies. (Read by
            # index: 2022.3 returns a plain dict, newer releases their own mapping.)
            return [np.array(self._request.get_output_tensor(i).data) for i in range(self._outputs)]

    def close(self) -> None:
        self._request = None
        self._compiled = None


_FIX = {
    "MYRIAD": "the MYRIAD plugin is in OpenVINO 2022.3's archive only (the ncs2 deploy target's image): "
    "plug the stick in, install its udev rule (docs/targets/ncs2.md),",
    "NPU": "install the NPU driver",
    "GPU": "install the GPU compute runtime",
}

_DTYPES = {"f32": "float32", "f16": "float16", "f64": "float64", "u8": "uint8", "i8": "int8"}
_DTYPES.update({"i32": "int32", "i64": "int64", "boolean": "bool"})


def _spec(port: Any) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    element = port.get_element_type().get_type_name()
    return TensorSpec(port.get_any_name(), shape, _DTYPES.get(element, element))


def _metadata(model: Any) -> dict[str, str]:
    """ONNX ``metadata_props`` as OpenVINO keeps them (under ``framework``), when present."""
    try:
        info = model.get_rt_info()
        if "framework" not in info:
            return {}
        framework = info["framework"]
        return {str(k): str(v.astype(str)) for k, v in framework.items()}
    except Exception:  # older runtimes or no such entry: metadata is optional
        return {}
