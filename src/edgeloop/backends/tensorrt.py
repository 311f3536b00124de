"""Native TensorRT backend for NVIDIA GPUs (Jetson, dGPU). Untested on hardware.

``load`` builds a serialized engine from the ONNX file the first time (minutes
on a Jetson) and caches it under a key made of the model's sha256, the GPU
name and compute capability, the TensorRT version and the precision: an
engine only runs on the GPU and TensorRT version that built it.

Memory and streams go through cuda-python's runtime bindings (no PyCUDA, no torch).
INT8 from an FP32 model needs a calibrator: set ``calibration`` to a
``PreprocessCalibrationReader`` before ``load`` (the same reader ONNX Runtime
calibration uses). An ONNX model that already holds Q/DQ nodes (``edgeloop
optimize --int8``) builds as INT8 without one.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.bundle import sha256_file
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec

Precision = Literal["fp32", "fp16", "int8"]
INSTALL_HINT = "pip install 'edgeloop[tensorrt]' on a machine with an NVIDIA GPU and driver"


class TensorRtConfig(BackendSettings):
    """Settings for the TensorRT backend."""

    type: Literal["tensorrt"] = "tensorrt"
    device: int = Field(default=0, ge=0, description="CUDA device index")
    precision: Precision = "fp16"
    workspace_mb: int = Field(default=1024, ge=16, description="builder scratch memory")
    cache_dir: str | None = Field(
        default=None, description="engine cache (default: trt_cache next to the model)"
    )

    def capabilities(self) -> Capabilities:
        """One execution context and its buffers: not thread-safe, one call at a time.
        The GPU schedules its own work; no CPU thread count to set."""
        return Capabilities(
            thread_safe=False, preferred_workers=1, dynamic_shapes=False, threads_setting=False
        )


def engine_cache_key(
    model_sha256: str, gpu_name: str, compute_capability: tuple[int, int], trt_version: str, precision: str
) -> str:
    """File name of a cached engine; any change of model, GPU, TensorRT or precision misses the cache."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    major, minor = compute_capability
    digest = hashlib.sha256(
        "|".join([model_sha256, gpu_name, f"{major}.{minor}", trt_version, precision]).encode()
    ).hexdigest()[:16]
    return f"{precision}-{gpu}-sm{major}{minor}-trt{trt_version}-{digest}.engine"


def _check(result: Any, what: str) -> Any:
    """cuda-python calls return (error, *values): raise on error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA error in {what}: {err}")
    return values[0] if len(values) == 1 else values


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python
    return cudart


class TensorRtBackend:
    """Runs ``.onnx`` files through a TensorRT engine built (once) for this GPU."""

    name = "tensorrt"
    Config = TensorRtConfig

    def __init__(self, config: TensorRtConfig | None = None) -> None:
        self.config = config or TensorRtConfig()
        self.calibration: Any = None  # a PreprocessCalibrationReader, for INT8 from FP32
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._buffers: dict[str, tuple[int, np.ndarray]] = {}  # name -> (device pointer, host array)
        self._inputs: list[str] = []
        self._outputs: list[str] = []

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        try:
            import tensorrt  # noqa: F401

            _cudart()
        except ImportError:
            return False
        return True

    def _gpu(self) -> tuple[str, tuple[int, int]]:
        cudart = _cudart()
        _check(cudart.cudaSetDevice(self.config.device), "cudaSetDevice")
        props = _check(cudart.cudaGetDeviceProperties(self.config.device), "cudaGetDeviceProperties")
        name = (
            props.name.decode(errors="replace").rstrip("\x00")
            if isinstance(props.name, bytes)
            else props.name
        )
        return str(name), (int(props.major), int(props.minor))

    def engine_path(self, model_path: Path) -> Path:
        """Where the engine for ``model_path`` on this GPU is (or will be) cached."""
        import tensorrt as trt

        gpu, capability = self._gpu()
        key = engine_cache_key(
            sha256_file(model_path), gpu, capability, trt.__version__, self.config.precision
        )
        cache = Path(self.config.cache_dir) if self.config.cache_dir else model_path.parent / "trt_cache"
        return cache / f"{model_path.stem}.{key}"

    def build(self, model_path: Path, engine_path: Path) -> bytes:
        """Build and cache a serialized engine; prints progress on stderr."""
        from edgeloop.backends.tensorrt_build import build_serialized

        print(
            f"building TensorRT engine for {model_path.name} ({self.config.precision}); "
            f"this can take several minutes; cached at {engine_path}",
            file=sys.stderr,
            flush=True,
        )
        start = time.perf_counter()
        data = build_serialized(
            model_path, self.config.precision, self.config.workspace_mb << 20, self.calibration
        )
        engine_path.parent.mkdir(parents=True, exist_ok=True)
        partial = engine_path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(engine_path)
        print(f"TensorRT engine built in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        return data

    def load(self, model_path: Path) -> ModelSpec:
        if not self.available():
            raise BackendError(f"backend 'tensorrt' unavailable here: {INSTALL_HINT}")
        import tensorrt as trt

        model_path = Path(model_path)
        engine_path = self.engine_path(model_path)
        data = engine_path.read_bytes() if engine_path.is_file() else self.build(model_path, engine_path)
        logger = trt.Logger(trt.Logger.WARNING)
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(data)
        if self._engine is None:
            raise BackendError(f"TensorRT could not load the engine {engine_path}; delete it to rebuild")
        self._context = self._engine.create_execution_context()
        self._stream = _check(_cudart().cudaStreamCreate(), "cudaStreamCreate")
        specs: dict[str, list[TensorSpec]] = {"in": [], "out": []}
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape = tuple(int(d) for d in self._engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            self._allocate(name, shape, dtype)
            (self._inputs if is_input else self._outputs).append(name)
            specs["in" if is_input else "out"].append(TensorSpec(name, shape, dtype.name))
        return ModelSpec(inputs=tuple(specs["in"]), outputs=tuple(specs["out"]))

    def _allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        if any(d < 0 for d in shape):
            raise BackendError(
                f"TensorRT tensor '{name}' has a dynamic shape {shape}: export the ONNX with a fixed batch"
            )
        host = np.empty(shape, dtype)
        pointer = _check(_cudart().cudaMalloc(max(host.nbytes, 1)), "cudaMalloc")
        self._buffers[name] = (int(pointer), host)
        self._context.set_tensor_address(name, int(pointer))

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if self._context is None:
            raise BackendError("tensorrt backend: call load() before infer()")
        cudart = _cudart()
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self._inputs:
            pointer, host = self._buffers[name]
            array = np.ascontiguousarray(inputs[name], dtype=host.dtype)
            if array.shape != host.shape:
                raise BackendError(f"input '{name}' has shape {array.shape}; the engine takes {host.shape}")
            _check(
                cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, h2d, self._stream), "copy in"
            )
        if not self._context.execute_async_v3(self._stream):
            raise BackendError("TensorRT inference failed")
        outputs: list[Tensor] = []
        for name in self._outputs:
            pointer, host = self._buffers[name]
            _check(
                cudart.cudaMemcpyAsync(host.ctypes.data, pointer, host.nbytes, d2h, self._stream), "copy out"
            )
            outputs.append(host)
        _check(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return [o.copy() for o in outputs]

    def close(self) -> None:
        if self._context is None and not self._buffers:
            return
        cudart = _cudart()
        for pointer, _ in self._buffers.values():
            cudart.cudaFree(pointer)
        self._buffers.clear()
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
        self._stream = self._context = self._engine = None
        self._inputs, self._outputs = [], []
