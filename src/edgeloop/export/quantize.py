"""Smaller, faster copies of an ONNX model: static INT8 (QDQ) and FP16.

INT8 calibration images go through ``edgeloop.preprocess`` exactly as the
``Predictor`` feeds them at inference (same decode, letterbox, scale, layout),
so the ranges ONNX Runtime measures are the ranges the model sees in service.
No torch here: ONNX Runtime's quantization tools and the ``onnx`` package only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from onnxruntime.quantization import CalibrationDataReader
from pydantic import BaseModel, ConfigDict, Field

from edgeloop.errors import ConfigError, EdgeloopError
from edgeloop.export.ort_logs import captured_onnxruntime_logs
from edgeloop.imaging import read_image
from edgeloop.preprocess import InputSpec, preprocess

Method = Literal["minmax", "entropy", "percentile"]
QuantDtype = Literal["u8", "s8"]
# Operators whose outputs carry weights' work; the tail after the last of them is decoding.
_COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})


class QuantizeConfig(BaseModel):
    """How to quantize. The defaults suit x86 CPUs with VNNI or AVX2 (U8S8, per channel).

    Attributes:
        activations: u8 (x86 and ARM CPUs) or s8 (TensorRT-style symmetric).
        weights: s8 (the fast kernels on every CPU) or u8.
        per_channel: one weight scale per output channel; keeps accuracy on depthwise convs.
        method: how activation ranges are chosen from the calibration tensors.
        keep_tail_float: leave the decode tail (box arithmetic, softmax, sigmoid, concat of
            pixel boxes with 0..1 scores) in float; one shared 8-bit scale over both wrecks scores.
    """

    model_config = ConfigDict(extra="forbid")

    activations: QuantDtype = "u8"
    weights: QuantDtype = "s8"
    per_channel: bool = True
    method: Method = "minmax"
    keep_tail_float: bool = True
    percentile: float = Field(default=99.999, gt=90, le=100)


class QuantizeError(EdgeloopError):
    """Quantization could not run (no calibration images, unsupported model, ...)."""


class PreprocessCalibrationReader(CalibrationDataReader):  # type: ignore[misc]
    """ONNX Runtime calibration reader: image files -> ``{input_name: tensor}``, one image per call.

    Args:
        images: image files to calibrate on.
        spec: the bundle's input spec (what ``Predictor`` uses).
        input_name: the model's input tensor name.
        on_image: called after each image (progress bars).
    """

    def __init__(
        self,
        images: Sequence[Path],
        spec: InputSpec,
        input_name: str,
        on_image: Callable[[], None] | None = None,
    ) -> None:
        if not images:
            raise QuantizeError("no calibration images: give --calib a dataset or folder with images")
        self.images = list(images)
        self.spec = spec
        self.input_name = input_name
        self.on_image = on_image
        self._next = 0

    def __len__(self) -> int:
        return len(self.images)

    def tensor(self, index: int) -> npt.NDArray[np.generic]:
        """The preprocessed (1, ...) tensor of image ``index``."""
        tensor, _ = preprocess(read_image(self.images[index]), self.spec)
        return tensor

    def get_next(self) -> dict[str, npt.NDArray[np.generic]] | None:
        if self._next >= len(self.images):
            return None
        tensor = self.tensor(self._next)
        self._next += 1
        if self.on_image is not None:
            self.on_image()
        return {self.input_name: tensor}

    def rewind(self) -> None:
        """Start again from the first image (a second calibration pass)."""
        self._next = 0


def pick_images(images: Sequence[Path], count: int) -> list[Path]:
    """``count`` images spread evenly over ``images`` (all of them when there are fewer)."""
    if count < 1:
        raise ConfigError("--calib-images must be at least 1")
    if len(images) <= count:
        return list(images)
    step = len(images) / count
    return [images[int(i * step)] for i in range(count)]


def tail_nodes(model_path: Path) -> list[str]:
    """Names of the nodes after the last Conv/MatMul/Gemm on every path to an output.

    For YOLO-style detectors that is the box decode (DFL softmax, grid offsets,
    stride multiply) and the concat of pixel boxes with class scores.
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    feeds_compute = [False] * len(graph.node)
    # Nodes are topologically sorted in a valid ONNX graph: walk backwards once.
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        feeds_compute[index] = any(
            graph.node[c].op_type in _COMPUTE_OPS or feeds_compute[c]
            for out in node.output
            for c in consumers.get(out, [])
        )
    return [
        node.name
        for index, node in enumerate(graph.node)
        if not feeds_compute[index] and node.op_type not in _COMPUTE_OPS and node.name
    ]


def _named(model_path: Path, out: Path) -> Path:
    """A copy of the model whose nodes all have names (exclusion lists need them)."""
    import onnx

    model = onnx.load(str(model_path))
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"
    onnx.save(model, str(out))
    return out


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    """Run a block with ``path`` as the working directory (the CLI is single-threaded here)."""
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def quantize_int8(
    model_path: Path,
    out_path: Path,
    reader: PreprocessCalibrationReader,
    config: QuantizeConfig | None = None,
) -> Path:
    """Write a static INT8 QDQ copy of ``model_path`` to ``out_path``, calibrated with ``reader``.

    Runs ONNX Runtime's ``quant_pre_process`` (shape inference and graph
    optimisation) first, as its quantization guide recommends.

    Raises:
        QuantizeError: ONNX Runtime could not pre-process or quantize the model.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    config = config or QuantizeConfig()
    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    # The quantization tools log through the root logger ("WARNING:root:Axis 1 is out-of-range ..."):
    # keep that off the console without touching the caller's logging configuration.
    with tempfile.TemporaryDirectory(prefix="edgeloop-quant-") as tmp, captured_onnxruntime_logs():
        named = _named(Path(model_path), Path(tmp) / "named.onnx")
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # When symbolic inference fails it dumps sym_shape_infer_temp.onnx and a
            # multi-MB <uuid>.data into the working directory: keep those in tmp.
            with _working_dir(Path(tmp)):
                quant_pre_process(str(named), str(prepared), skip_symbolic_shape=False)
        except Exception:  # its errors are untyped
            # Symbolic inference gives up on some dynamic-batch graphs (ours, from torch's
            # exporter); ONNX's own shape inference handles them.
            try:
                quant_pre_process(str(named), str(prepared), skip_symbolic_shape=True)
            except Exception as exc:
                raise QuantizeError(f"quant_pre_process failed on {Path(model_path).name}: {exc}") from None
        exclude = tail_nodes(prepared) if config.keep_tail_float else []
        extra: dict[str, object] = {"CalibTensorRangeSymmetric": config.activations == "s8"}
        if config.method == "percentile":
            extra["CalibPercentile"] = config.percentile
        cache: Path | None = None
        feed: PreprocessCalibrationReader | None = reader
        if config.method == "entropy":
            cache, feed = _entropy_ranges(prepared, reader, Path(tmp), config.activations == "s8"), None
        try:
            quantize_static(
                str(prepared),
                str(out_path),
                feed,
                quant_format=QuantFormat.QDQ,
                per_channel=config.per_channel,
                activation_type=types[config.activations],
                weight_type=types[config.weights],
                calibrate_method=methods[config.method],
                nodes_to_exclude=exclude,
                extra_options=extra,
                **({"calibration_cache_path": str(cache)} if cache else {}),
            )
        except EdgeloopError:
            raise
        except Exception as exc:
            raise QuantizeError(f"INT8 quantization of {Path(model_path).name} failed: {exc}") from None
    return Path(out_path)


def _entropy_ranges(model: Path, reader: PreprocessCalibrationReader, tmp: Path, symmetric: bool) -> Path:
    """Entropy (KL) activation ranges, written as ONNX Runtime's calibration cache.

    ``quantize_static`` builds its entropy calibrator with as many histogram
    bins as quantized bins (128 and 128), which leaves KL a single candidate
    range: the full one, the same as minmax (measured: identical scales). A
    finer histogram (2048 bins) gives it thresholds to choose from.
    """
    import inspect

    from onnxruntime.quantization import CalibrationMethod, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise QuantizeError(
            "--method entropy needs a newer onnxruntime (with calibration caches): upgrade it"
        )
    calibrator = create_calibrator(
        model,
        sorted(set(QDQRegistry) | set(QLinearOpsRegistry)),
        augmented_model_path=str(tmp / "augmented.onnx"),
        calibrate_method=CalibrationMethod.Entropy,
        extra_options={"symmetric": symmetric, "num_bins": 2048, "num_quantized_bins": 128},
    )
    calibrator.collect_data(reader)
    cache = tmp / "entropy-ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def convert_fp16(model_path: Path, out_path: Path) -> Path:
    """Write an FP16 copy of ``model_path`` whose inputs and outputs stay float32.

    Keeping float32 IO means the same preprocess feeds every variant. FP16 pays
    off on GPUs (CUDA, TensorRT, OpenVINO GPU); most CPUs run it slower than FP32.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(model_path))
    try:
        # Resize's scales and roi must stay float32; the converter's default block list covers it.
        with captured_onnxruntime_logs():
            half = convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:
        raise QuantizeError(f"FP16 conversion of {Path(model_path).name} failed: {exc}") from None
    onnx.save(half, str(out_path))
    return Path(out_path)
