"""TensorRT engine building: ONNX parse, precision flags, INT8 calibration. Untested on hardware.

Imported only when an engine must be built, so ``tensorrt`` is never needed to import edgeloop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.backends.tensorrt import _check, _cudart
from edgeloop.errors import BackendError


def make_calibrator(reader: Any, cache_path: Path) -> Any:
    """An ``IInt8EntropyCalibrator2`` fed by a ``PreprocessCalibrationReader`` (one image per batch).

    The calibration table is cached beside the engine so a rebuild skips the images.
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
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_serialized(model_path: Path, precision: str, workspace_bytes: int, calibration: Any) -> bytes:
    """Parse ``model_path`` and build a serialized engine at ``precision``.

    Raises:
        BackendError: the ONNX parser rejects the model, or the build fails.
    """
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # Explicit batch is the only mode in TensorRT 10 (the flag is gone); 8.x needs it set.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(model_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {Path(model_path).name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # layers TensorRT keeps out of int8 fall back to fp16
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        has_qdq = any(network.get_layer(i).type == trt.LayerType.QUANTIZE for i in range(network.num_layers))
        if not has_qdq:
            if calibration is None:
                raise BackendError(
                    "INT8 TensorRT from an FP32 model needs calibration images: use the bundle's int8 "
                    "variant (edgeloop optimize --int8) or set a calibration reader"
                )
            config.int8_calibrator = make_calibrator(calibration, Path(model_path).with_suffix(".calib"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(
            f"TensorRT could not build an engine for {Path(model_path).name} (see its log above)"
        )
    return bytes(serialized)
