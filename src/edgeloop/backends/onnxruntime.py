"""ONNX Runtime backend: CPU by default, accelerated execution providers on request."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.backends.cache import user_cache_dir
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec

Device = Literal["cpu", "cuda", "tensorrt", "openvino", "coreml", "auto"]

# Execution providers per device, best first; CPU is always the last resort.
_PROVIDERS: dict[str, list[str]] = {
    "cpu": [],
    "cuda": ["CUDAExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    "openvino": ["OpenVINOExecutionProvider"],
    "coreml": ["CoreMLExecutionProvider"],
}
# "auto" never picks TensorRT: its first engine build can take minutes.
_AUTO_ORDER = ["CUDAExecutionProvider", "OpenVINOExecutionProvider", "CoreMLExecutionProvider"]
_INSTALL_HINT = {
    "cuda": "install onnxruntime-gpu (and a matching CUDA/cuDNN)",
    "tensorrt": "install onnxruntime-gpu built with TensorRT, and TensorRT itself",
    "openvino": "install onnxruntime-openvino",
    "coreml": "use the standard onnxruntime wheel on macOS",
}

_live_sessions = 0
_live_lock = threading.Lock()


class OnnxRuntimeConfig(BackendSettings):
    """Settings for the ONNX Runtime backend."""

    threads_field: ClassVar[str | None] = "intra_op_threads"

    type: Literal["onnxruntime"] = "onnxruntime"
    device: Device = "cpu"
    intra_op_threads: int = Field(default=0, ge=0, description="0 lets ONNX Runtime choose")
    inter_op_threads: int = Field(default=0, ge=0)
    allow_spinning: bool | None = Field(
        default=None,
        description="busy-wait between ops; None = on for a lone session, off when several share a process",
    )
    trt_engine_cache_dir: str | None = Field(
        default=None,
        description="where TensorRT engines are cached (default: ~/.cache/edgeloop/onnxruntime-tensorrt)",
    )
    trt_fp16: bool = False
    openvino_device: str = "CPU"

    def capabilities(self) -> Capabilities:
        """Sessions are thread-safe. On a CPU, two frames in flight on half the cores each beat
        one frame on all of them (1.16-1.31x frames/s on 2 cores, docs/benchmarks.md):
        small models do not keep every core busy within one call. Accelerators: one."""
        cores = os.cpu_count() or 1
        workers = 2 if self.device == "cpu" and cores >= 2 else 1
        return Capabilities(
            thread_safe=True, preferred_workers=workers, dynamic_shapes=True, threads_setting=True
        )


class OnnxRuntimeBackend:
    """Runs ``.onnx`` files with ONNX Runtime."""

    name = "onnxruntime"
    Config = OnnxRuntimeConfig

    def __init__(self, config: OnnxRuntimeConfig | None = None) -> None:
        self.config = config or OnnxRuntimeConfig()
        self._session: Any = None
        self._output_names: list[str] = []
        self.spinning: bool | None = None  # what load() chose

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
        return True

    def providers(self, model_path: Path) -> list[Any]:
        """The execution providers to ask for, with their options."""
        import onnxruntime as ort

        have = set(ort.get_available_providers())
        device = self.config.device
        if device == "auto":
            wanted = [p for p in _AUTO_ORDER if p in have][:1]
        else:
            wanted = _PROVIDERS[device]
            missing = [p for p in wanted if p not in have]
            if wanted and missing == wanted[:1]:
                raise BackendError(
                    f"device '{device}' unavailable: ONNX Runtime here has no {missing[0]}; "
                    f"{_INSTALL_HINT[device]}, or use --device cpu"
                )
            wanted = [p for p in wanted if p in have]
        chosen: list[Any] = []
        for provider in wanted:
            chosen.append((provider, self._provider_options(provider, model_path)))
        chosen.append("CPUExecutionProvider")
        return chosen

    def _provider_options(self, provider: str, model_path: Path) -> dict[str, Any]:
        if provider == "TensorrtExecutionProvider":
            # never in the bundle folder, which stays as it was verified
            cache = self.config.trt_engine_cache_dir or str(user_cache_dir("onnxruntime-tensorrt"))
            return {
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": cache,
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": cache,
                "trt_fp16_enable": self.config.trt_fp16,
            }
        if provider == "OpenVINOExecutionProvider":
            return {"device_type": self.config.openvino_device}
        return {}

    def load(self, model_path: Path) -> ModelSpec:
        import onnxruntime as ort

        global _live_sessions
        model_path = Path(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = self.config.inter_op_threads
        options.log_severity_level = 3
        with _live_lock:
            spinning = self.config.allow_spinning
            if spinning is None:
                spinning = _live_sessions == 0
            _live_sessions += 1
        self.spinning = spinning
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=self.providers(model_path)
            )
        except BackendError:
            self._release_count()
            raise
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            self._release_count()
            raise BackendError(f"ONNX Runtime could not load {model_path.name}: {exc}") from None
        self._output_names = [o.name for o in self._session.get_outputs()]
        meta = self._session.get_modelmeta()
        return ModelSpec(
            inputs=tuple(_spec(i) for i in self._session.get_inputs()),
            outputs=tuple(_spec(o) for o in self._session.get_outputs()),
            metadata=dict(meta.custom_metadata_map),
        )

    @property
    def active_providers(self) -> list[str]:
        """Providers the loaded session actually uses."""
        return list(self._session.get_providers()) if self._session is not None else []

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if self._session is None:
            raise BackendError("onnxruntime backend: call load() before infer()")
        try:
            outputs: list[Tensor] = self._session.run(self._output_names, dict(inputs))
        except Exception as exc:
            raise BackendError(f"ONNX Runtime inference failed: {exc}") from None
        return outputs

    def _release_count(self) -> None:
        global _live_sessions
        with _live_lock:
            _live_sessions = max(0, _live_sessions - 1)

    def close(self) -> None:
        if self._session is not None:
            self._session = None
            self._release_count()


_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def _spec(node: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in node.shape)
    return TensorSpec(node.name, shape, _DTYPES.get(node.type, node.type))
