"""Native TensorRT backend for NVIDIA GPUs (Jetson, dGPU). Untested on hardware.

``load`` builds a serialized engine from the ONNX file the first time (minutes
on a Jetson) and caches it in ``cache_dir`` (default
``$XDG_CACHE_HOME/edgeloop/tensorrt`` or ``~/.cache/edgeloop/tensorrt``, never the
bundle folder) under a key made of the model's sha256, the GPU name and compute
capability, the TensorRT version, the precision and the optimization profile: an
engine only runs on the GPU and TensorRT version that built it.

Models with a dynamic batch axis (as ``edgeloop export`` writes them) get an
optimization profile of batch 1 .. ``max_batch``; dynamic height and width take
``min_hw`` / ``opt_hw`` / ``max_hw``. Memory and streams go through cuda-python's
runtime bindings (no PyCUDA, no torch). INT8 from an FP32 model needs a
calibrator: set ``calibration`` to a ``PreprocessCalibrationReader`` before
``load`` (the same reader ONNX Runtime calibration uses); its table is cached
beside the engines. An ONNX model that already holds Q/DQ nodes (``edgeloop
optimize --int8``) builds as INT8 without one.

TensorRT's own messages go to the ``edgeloop.backends.tensorrt`` logger; the
build shows a spinner through ``edgeloop.progress`` on a terminal.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.backends.cache import user_cache_dir
from edgeloop.backends.tensorrt_plan import (
    ProfileSettings,
    ShapeRange,
    cache_file,
    calibration_cache_key,
    engine_cache_key,
)
from edgeloop.bundle import sha256_file
from edgeloop.errors import BackendError
from edgeloop.progress import activity
from edgeloop.types import ModelSpec, TensorSpec

Precision = Literal["fp32", "fp16", "int8"]
INSTALL_HINT = "pip install 'edgeloop[tensorrt]' on a machine with an NVIDIA GPU and driver"

log = logging.getLogger("edgeloop.backends.tensorrt")


class TensorRtConfig(BackendSettings):
    """Settings for the TensorRT backend."""

    type: Literal["tensorrt"] = "tensorrt"
    device: int = Field(default=0, ge=0, description="CUDA device index")
    precision: Precision = "fp16"
    workspace_mb: int = Field(default=1024, ge=16, description="builder scratch memory")
    cache_dir: str | None = Field(
        default=None,
        description="engine and INT8 calibration cache, outside the bundle "
        "(default: $XDG_CACHE_HOME/edgeloop/tensorrt or ~/.cache/edgeloop/tensorrt)",
    )
    max_batch: int = Field(default=1, ge=1, description="largest batch of a dynamic-batch model")
    opt_batch: int | None = Field(default=None, ge=1, description="batch the engine is tuned for (default 1)")
    min_hw: tuple[PositiveInt, PositiveInt] | None = Field(
        default=None, description="smallest height, width of a dynamic-size input (default opt_hw)"
    )
    opt_hw: tuple[PositiveInt, PositiveInt] | None = Field(
        default=None, description="height, width the engine is tuned for (dynamic-size inputs)"
    )
    max_hw: tuple[PositiveInt, PositiveInt] | None = Field(
        default=None, description="largest height, width of a dynamic-size input"
    )

    @model_validator(mode="after")
    def _ordered(self) -> TensorRtConfig:
        if (self.opt_batch or 1) > self.max_batch:
            raise ValueError(f"opt_batch {self.opt_batch} is above max_batch {self.max_batch}")
        sizes = [s for s in (self.min_hw, self.opt_hw, self.max_hw) if s is not None]
        if any(a[i] > b[i] for a, b in itertools.pairwise(sizes) for i in (0, 1)):
            raise ValueError("need min_hw <= opt_hw <= max_hw on both height and width")
        return self

    def capabilities(self) -> Capabilities:
        """One execution context and its buffers: not thread-safe, one call at a time.

        The GPU schedules its own work; no CPU thread count to set. Batches above 1 run
        when the engine's optimization profile allows them (``max_batch``).
        """
        return Capabilities(
            thread_safe=False, preferred_workers=1, dynamic_shapes=self.max_batch > 1, threads_setting=False
        )

    def profile(self) -> ProfileSettings:
        """The optimization-profile settings."""
        return ProfileSettings(self.max_batch, self.opt_batch or 1, self.min_hw, self.opt_hw, self.max_hw)

    def cache_folder(self) -> Path:
        """Where engines and calibration tables are cached."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else user_cache_dir("tensorrt")


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


_LOGGER_LOCK = threading.Lock()
_TRT_LOGGER: Any = None


def trt_logger() -> Any:
    """The process's TensorRT logger, forwarding to ``logging`` (TensorRT keeps the first one given).

    Its ``errors`` hold TensorRT's last error messages, for the text of a BackendError.
    """
    global _TRT_LOGGER
    with _LOGGER_LOCK:
        if _TRT_LOGGER is None:
            import tensorrt as trt

            severity = trt.ILogger.Severity
            levels = {
                severity.INTERNAL_ERROR: logging.CRITICAL,
                severity.ERROR: logging.ERROR,
                severity.WARNING: logging.WARNING,
                severity.INFO: logging.DEBUG,
                severity.VERBOSE: logging.DEBUG,
            }

            class LogBridge(trt.ILogger):  # type: ignore[misc]
                def __init__(self) -> None:
                    trt.ILogger.__init__(self)
                    self.errors: collections.deque[str] = collections.deque(maxlen=5)

                def log(self, level: Any, message: str) -> None:
                    python_level = levels.get(level, logging.DEBUG)
                    if python_level >= logging.ERROR:
                        self.errors.append(message)
                    log.log(python_level, "TensorRT: %s", message)

            _TRT_LOGGER = LogBridge()
        return _TRT_LOGGER


class TensorRtBackend:
    """Runs ``.onnx`` files through a TensorRT engine built (once) for this GPU."""

    name = "tensorrt"
    Config = TensorRtConfig

    def __init__(self, config: TensorRtConfig | None = None) -> None:
        self.config = config or TensorRtConfig()
        self.calibration: Any = None  # a PreprocessCalibrationReader, for INT8 from FP32
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._buffers: dict[str, tuple[int, int, np.dtype[Any]]] = {}  # name -> (pointer, bytes, dtype)
        self._ranges: dict[str, ShapeRange] = {}  # input name -> its profile
        self._shapes: dict[str, tuple[int, ...]] = {}  # input name -> shape set on the context
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
        variant = self.config.profile().label()
        if self.calibration is not None and self.config.precision == "int8":
            variant += "|" + self.calibration_path(model_path).name  # other images, other engine
        key = engine_cache_key(
            sha256_file(model_path), gpu, capability, trt.__version__, self.config.precision, variant
        )
        return cache_file(self.config.cache_folder(), model_path, key)

    def calibration_path(self, model_path: Path) -> Path:
        """Where the INT8 calibration table for ``model_path`` and the calibration images is cached."""
        import tensorrt as trt

        images = [str(p) for p in getattr(self.calibration, "images", [])]
        key = calibration_cache_key(sha256_file(model_path), trt.__version__, images)
        return cache_file(self.config.cache_folder(), model_path, key)

    def build(self, model_path: Path, engine_path: Path) -> bytes:
        """Build a serialized engine and cache it at ``engine_path`` (atomically)."""
        from edgeloop.backends.tensorrt_build import BuildRequest, build_serialized

        config = self.config
        log.info(
            "building a TensorRT engine for %s (%s); caching it at %s",
            model_path,
            config.precision,
            engine_path,
        )
        start = time.perf_counter()
        request = BuildRequest(
            model_path=model_path,
            precision=config.precision,
            workspace_bytes=config.workspace_mb << 20,
            profile=config.profile(),
            calibration=self.calibration,
            calibration_cache=self.calibration_path(model_path) if self.calibration is not None else None,
        )
        label = f"building TensorRT engine for {model_path.name} ({config.precision}); minutes on a Jetson"
        with activity(label):
            data = build_serialized(request)
        engine_path.parent.mkdir(parents=True, exist_ok=True)
        partial = engine_path.with_name(f"{engine_path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(engine_path)
        log.info("TensorRT engine built in %.0f s", time.perf_counter() - start)
        return data

    def load(self, model_path: Path) -> ModelSpec:
        if not self.available():
            raise BackendError(f"backend 'tensorrt' unavailable here: {INSTALL_HINT}")
        import tensorrt as trt

        model_path = Path(model_path)
        engine_path = self.engine_path(model_path)
        data = engine_path.read_bytes() if engine_path.is_file() else self.build(model_path, engine_path)
        self._runtime = trt.Runtime(trt_logger())
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise BackendError(f"TensorRT could not load the engine {engine_path}; delete it to rebuild")
        self._context = self._engine.create_execution_context()
        self._stream = _check(_cudart().cudaStreamCreate(), "cudaStreamCreate")
        return self._bind(trt)

    def _bind(self, trt: Any) -> ModelSpec:
        """Read the engine's tensors, set every input to its largest shape, allocate for that."""
        engine, context = self._engine, self._context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        for name in names:
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                self._outputs.append(name)
                continue
            low, opt, high = (
                (tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0))
                if -1 in shape
                else (shape, shape, shape)
            )
            self._ranges[name] = ShapeRange(name, low, opt, high)
            self._inputs.append(name)
            self._set_shape(name, high)
        specs: dict[str, list[TensorSpec]] = {"in": [], "out": []}
        for name in names:
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            largest = tuple(int(d) for d in context.get_tensor_shape(name))
            if any(d < 0 for d in largest):
                raise BackendError(
                    f"TensorRT output '{name}' has a data-dependent shape {largest}, which this backend "
                    "cannot size: use the onnxruntime backend for this model"
                )
            self._allocate(name, int(np.prod(largest)) * dtype.itemsize, dtype)
            if name in self._ranges:
                specs["in"].append(TensorSpec(name, self._ranges[name].reported(), dtype.name))
            else:
                dims = tuple(int(d) for d in engine.get_tensor_shape(name))
                specs["out"].append(TensorSpec(name, tuple(d if d >= 0 else None for d in dims), dtype.name))
        return ModelSpec(inputs=tuple(specs["in"]), outputs=tuple(specs["out"]))

    def _allocate(self, name: str, nbytes: int, dtype: np.dtype[Any]) -> None:
        pointer = int(_check(_cudart().cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
        self._buffers[name] = (pointer, nbytes, dtype)
        self._context.set_tensor_address(name, pointer)

    def _set_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self._shapes.get(name) == shape:
            return
        if not self._context.set_input_shape(name, shape):
            raise BackendError(f"TensorRT refused shape {shape} for input '{name}'")
        self._shapes[name] = shape

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        if self._context is None:
            raise BackendError("tensorrt backend: call load() before infer()")
        cudart = _cudart()
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self._inputs:
            pointer, _, dtype = self._buffers[name]
            array = np.ascontiguousarray(inputs[name], dtype=dtype)
            allowed = self._ranges[name]
            if not allowed.accepts(array.shape):
                raise BackendError(
                    f"input '{name}' has shape {array.shape}; this engine takes {allowed.describe()} "
                    "(a larger batch needs max_batch in the tensorrt settings, and a new engine)"
                )
            self._set_shape(name, array.shape)
            _check(
                cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, h2d, self._stream), "copy in"
            )
        if not self._context.execute_async_v3(self._stream):
            raise BackendError("TensorRT inference failed")
        outputs: list[Tensor] = []
        for name in self._outputs:
            pointer, _, dtype = self._buffers[name]
            host = np.empty(tuple(int(d) for d in self._context.get_tensor_shape(name)), dtype)
            _check(
                cudart.cudaMemcpyAsync(host.ctypes.data, pointer, host.nbytes, d2h, self._stream), "copy out"
            )
            outputs.append(host)
        _check(cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return outputs

    def close(self) -> None:
        if self._context is None and not self._buffers:
            return
        cudart = _cudart()
        for pointer, _, _ in self._buffers.values():
            cudart.cudaFree(pointer)
        self._buffers.clear()
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
        self._stream = self._context = self._engine = self._runtime = None
        self._inputs, self._outputs = [], []
        self._ranges.clear()
        self._shapes.clear()
