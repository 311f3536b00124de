"""TensorRT engine building: ONNX parse, optimization profile, precision flags, INT8 calibration.

Untested on hardware. Imported only when an engine must be built, so ``tensorrt``
is never needed to import edgeloop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.backends.tensorrt import _check, _cudart, trt_logger
from edgeloop.backends.tensorrt_plan import ProfileSettings, ShapeRange, calibration_shape, shape_range
from edgeloop.errors import BackendError


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the model, its precision, its profile, and INT8 calibration if any."""

    model_path: Path
    precision: str
    workspace_bytes: int
    profile: ProfileSettings
    calibration: Any = None  # a PreprocessCalibrationReader
    calibration_cache: Path | None = None  # where the calibration table is read and written


def make_calibrator(reader: Any, cache_path: Path | None) -> Any:
    """An ``IInt8EntropyCalibrator2`` fed by a ``PreprocessCalibrationReader`` (one image per batch).

    The calibration table is cached at ``cache_path`` so a rebuild skips the images.
    """
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            reader.rewind()
            self._pointer: int | None = None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            feed = reader.get_next()
            if feed is None:
                return None
            array = np.ascontiguousarray(next(iter(feed.values())), dtype=np.float32)
            cudart = _cudart()
            if self._pointer is None:
                self._pointer = int(_check(cudart.cudaMalloc(array.nbytes), "cudaMalloc"))
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            _check(cudart.cudaMemcpy(self._pointer, array.ctypes.data, array.nbytes, kind), "cudaMemcpy")
            return [self._pointer]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path is not None and cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_path is None:
                return
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def network_ranges(network: Any, settings: ProfileSettings) -> list[ShapeRange]:
    """The profile of every network input (dynamic axes are -1 in TensorRT's shapes)."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    return [shape_range(t.name, tuple(int(d) for d in t.shape), settings) for t in inputs]


def _add_profiles(builder: Any, network: Any, config: Any, request: BuildRequest) -> list[ShapeRange]:
    """One optimization profile when any input is dynamic (TensorRT needs it even for 1..1)."""
    ranges = network_ranges(network, request.profile)
    if all(-1 not in tuple(network.get_input(i).shape) for i in range(network.num_inputs)):
        return ranges
    profile = builder.create_optimization_profile()
    for r in ranges:
        profile.set_shape(r.name, r.min, r.opt, r.max)
    config.add_optimization_profile(profile)
    return ranges


def _set_int8(
    builder: Any, network: Any, config: Any, request: BuildRequest, ranges: list[ShapeRange]
) -> None:
    import tensorrt as trt

    config.set_flag(trt.BuilderFlag.INT8)
    if any(network.get_layer(i).type == trt.LayerType.QUANTIZE for i in range(network.num_layers)):
        return  # Q/DQ nodes carry their own scales
    if request.calibration is None:
        raise BackendError(
            "INT8 TensorRT from an FP32 model needs calibration images: use the bundle's int8 "
            "variant (edgeloop optimize --int8) or set a calibration reader"
        )
    config.int8_calibrator = make_calibrator(request.calibration, request.calibration_cache)
    if any(r.dynamic for r in ranges):  # calibration runs one image at a time
        calibration = builder.create_optimization_profile()
        for r in ranges:
            shape = calibration_shape(r)
            calibration.set_shape(r.name, shape, shape, shape)
        config.set_calibration_profile(calibration)


def build_serialized(request: BuildRequest) -> bytes:
    """Parse the model and build a serialized engine at the requested precision and profile.

    Raises:
        BackendError: the ONNX parser rejects the model, a dynamic axis has no size, or the build fails.
    """
    import tensorrt as trt

    logger = trt_logger()
    builder = trt.Builder(logger)
    # Explicit batch is the only mode in TensorRT 10 (the flag is gone); 8.x needs it set.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    name = request.model_path.name
    if not parser.parse(request.model_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_bytes)
    ranges = _add_profiles(builder, network, config, request)
    if request.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # layers TensorRT keeps out of int8 fall back to fp16
    if request.precision == "int8":
        _set_int8(builder, network, config, request, ranges)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        said = " | ".join(logger.errors) or "no message"
        raise BackendError(f"TensorRT could not build an engine for {name}: {said}")
    return bytes(serialized)
