"""ncnn backend: Tencent's CPU inference library, fast on Arm (Raspberry Pi) and small.

Loads ``model.ncnn.param`` with its ``model.ncnn.bin`` beside it (written by
``edgeloop optimize --ncnn``, which converts the bundle's ONNX with pnnx). The
``model.ncnn.json`` written with them maps pnnx's blob names (``in0``, ``out0``) to
the ONNX names and shapes, so a bundle's ncnn variant reports the same tensors as
its ONNX model; without it the blob names are used and a batch axis is added.

ncnn runs one image at a time: its tensors have no batch axis.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec


class NcnnConfig(BackendSettings):
    """Settings for the ncnn backend (CPU)."""

    threads_field: ClassVar[str | None] = "threads"
    device_field: ClassVar[str | None] = None

    type: Literal["ncnn"] = "ncnn"
    threads: int = Field(default=0, ge=0, description="CPU inference threads; 0 lets ncnn choose")
    fp16: bool = Field(
        default=False,
        description="fp16 storage and arithmetic where the CPU has them (Arm v8.2 and later): faster, "
        "results differ slightly from ONNX Runtime's; off = FP32 throughout",
    )
    openmp_blocktime: int | None = Field(
        default=None,
        ge=0,
        le=400,
        description="milliseconds ncnn's threads busy-wait after each layer; None = ncnn's default (20) "
        "for a model alone, 0 where models share the process (their spinning threads would take "
        "each other's cores)",
    )

    def capabilities(self) -> Capabilities:
        """Each call runs its own ncnn Extractor on the one shared Net (ncnn's way to run a Net from
        several threads), but the Python binding keeps the GIL while it computes: calls are
        safe from several threads and do not overlap, so one worker. Batch 1 only."""
        return Capabilities(thread_safe=True, preferred_workers=1, dynamic_shapes=False, threads_setting=True)


class NcnnTensor(BaseModel):
    """One model input or output: its ONNX name and shape, and ncnn's blob name for it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    blob: str
    shape: list[int | None]


class NcnnIoMap(BaseModel):
    """``model.ncnn.json``: what ``convert_onnx_to_ncnn`` writes beside the ``.param``."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[NcnnTensor]
    outputs: list[NcnnTensor]


class NcnnBackend:
    """Runs ``.ncnn.param`` + ``.ncnn.bin`` models with ncnn on the CPU."""

    name = "ncnn"
    Config = NcnnConfig

    def __init__(self, config: NcnnConfig | None = None) -> None:
        self.config = config or NcnnConfig()
        self._net: Any = None
        self._inputs: list[tuple[str, str]] = []  # (name callers use, ncnn blob)
        self._outputs: list[tuple[str, tuple[int | str | None, ...] | None]] = []  # (blob, shape)

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("ncnn") is not None

    def load(self, model_path: Path) -> ModelSpec:
        import ncnn

        param = Path(model_path)
        if param.suffix != ".param":
            raise BackendError(
                f"ncnn runs .param + .bin models, not {param.name}: make an ncnn variant with "
                "`edgeloop optimize BUNDLE --out NEW --ncnn` (it is fp32: with another default "
                "variant, ask for --precision fp32)"
            )
        weights = param.with_suffix(".bin")
        for path in (param, weights):
            if not path.is_file():
                raise BackendError(f"ncnn model file not found: {path}")
        net = ncnn.Net()
        self._configure(net.opt)
        if net.load_param(str(param)) != 0:
            unknown = ", ".join(_unknown_layers(param)) or "-"
            raise BackendError(
                f"ncnn could not load {param.name}: not an ncnn .param file, or it uses layers this "
                f"ncnn ({getattr(ncnn, '__version__', '?')}) lacks: {unknown}"
            )
        if net.load_model(str(weights)) != 0:
            raise BackendError(
                f"ncnn could not load {weights.name}: truncated, or not the weights of {param.name}"
            )
        io_map = _read_io_map(param)
        if io_map is None:
            inputs = [TensorSpec(blob, _declared_input_shape(param, blob)) for blob in net.input_names()]
            outputs = [TensorSpec(blob, (1, None, None)) for blob in net.output_names()]
            self._inputs = [(blob, blob) for blob in net.input_names()]
            self._outputs = [(blob, None) for blob in net.output_names()]
        else:
            inputs = [TensorSpec(e.name, tuple(e.shape)) for e in io_map.inputs]
            outputs = [TensorSpec(e.name, tuple(e.shape)) for e in io_map.outputs]
            self._inputs = [(e.name, e.blob) for e in io_map.inputs]
            self._outputs = [(e.blob, tuple(e.shape)) for e in io_map.outputs]
        self._net = net
        return ModelSpec(inputs=tuple(inputs), outputs=tuple(outputs), metadata={})

    def _configure(self, opt: Any) -> None:
        if self.config.threads:
            opt.num_threads = self.config.threads
        if self.config.openmp_blocktime is not None:
            opt.openmp_blocktime = self.config.openmp_blocktime
        # ncnn turns fp16 on by default where the CPU has it; FP32 matches ONNX Runtime's results.
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = self.config.fp16
        opt.use_bf16_storage = False
        opt.use_vulkan_compute = False

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        import ncnn

        net = self._net  # a local reference: close() from another thread cannot free it mid-call
        if net is None:
            raise BackendError("ncnn backend: call load() before infer()")
        mats = []
        for name, blob in self._inputs:
            if name not in inputs:
                raise BackendError(f"ncnn backend: no input named '{name}' (got {', '.join(inputs)})")
            tensor = np.asarray(inputs[name])
            if tensor.ndim < 2 or tensor.shape[0] != 1:
                raise BackendError(
                    f"ncnn runs one image at a time (batch 1): input '{name}' has shape {tensor.shape}; "
                    "send the images one by one, or use onnxruntime for batches"
                )
            # ncnn's Mat borrows the array's memory: keep it alive (in ``mats``) until the run ends.
            array = np.ascontiguousarray(tensor[0], dtype=np.float32)
            mats.append((blob, array, ncnn.Mat(array)))
        extractor = net.create_extractor()
        try:
            for blob, _, mat in mats:
                extractor.input(blob, mat)
            results = []
            for blob, shape in self._outputs:
                code, out = extractor.extract(blob)
                if code != 0:
                    raise BackendError(f"ncnn inference failed: extracting '{blob}' returned {code}")
                results.append(_restore_shape(np.array(out, dtype=np.float32), shape, blob))
        finally:
            extractor.clear()
        return results

    def close(self) -> None:
        self._net = None  # freed with its last reference (a call still running keeps its own)


def _read_io_map(param: Path) -> NcnnIoMap | None:
    path = param.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        return NcnnIoMap.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise BackendError(
            f"{path.name}: not an edgeloop ncnn input/output map ({exc.error_count()} errors, first: "
            f"{exc.errors()[0]['msg']})"
        ) from None


def _restore_shape(array: Tensor, shape: tuple[int | str | None, ...] | None, blob: str) -> Tensor:
    """ncnn drops the batch axis: give the output back the shape the ONNX model declared."""
    if shape is None or not all(isinstance(d, int) for d in shape):
        return array[None]
    dims = tuple(int(d) for d in shape if isinstance(d, int))
    if int(np.prod(dims)) != array.size:
        raise BackendError(
            f"ncnn output '{blob}' has shape {array.shape}, which does not fit the ONNX shape {shape}: "
            "the ncnn files and model.ncnn.json do not belong together"
        )
    return array.reshape(dims)


def _param_layers(param: Path) -> list[list[str]]:
    try:
        lines = param.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [f for f in (line.split() for line in lines[2:]) if len(f) >= 4]


def _unknown_layers(param: Path) -> list[str]:
    return unknown_layer_types({fields[0] for fields in _param_layers(param)})


def unknown_layer_types(types: set[str]) -> list[str]:
    """The layer types ncnn has no layer for: operators pnnx left unconverted, under their
    PyTorch (``torch.gt``) or ONNX (``ReduceMax``) names. Without ncnn installed, the
    PyTorch-named ones only."""
    try:
        import ncnn
    except ImportError:
        return sorted(t for t in types if "." in t)
    return sorted(t for t in types if ncnn.layer_to_index(t) < 0)


def _declared_input_shape(param: Path, blob: str) -> tuple[int | None, ...]:
    """An Input layer's own ``0=w 1=h 2=c`` (other converters write them; pnnx does not)."""
    for fields in _param_layers(param):
        if fields[0] == "Input" and blob in fields[4:5]:
            values = dict(f.split("=", 1) for f in fields[5:] if "=" in f)
            w, h, c = (int(values.get(k, 0)) or None for k in ("0", "1", "2"))
            return (1, c, h, w)
    return (1, None, None, None)
