"""LiteRT backend (formerly TensorFlow Lite): runs ``.tflite`` files, FP32 and quantized INT8.

Quantized models take and give float tensors here, like every other backend: a float input
is quantized with the input tensor's own scale and zero point before it is set, and integer
outputs are dequantized with theirs, so the Predictor and the decoders never see the
difference. A uint8 input is the exception: it is reported as uint8 and takes the image's
bytes as they are, as such models expect (a float tensor given to it is still quantized).

The optional Coral Edge TPU delegate (``delegate: edgetpu``) loads
``libedgetpu.so.1`` through LiteRT's ``load_delegate``; it needs an Edge TPU-compiled model
and is untested on hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from edgeloop.backends.base import BackendSettings, Capabilities, Tensor
from edgeloop.errors import BackendError
from edgeloop.types import ModelSpec, TensorSpec

EDGETPU_LIBRARY = "libedgetpu.so.1"
MAX_TENSOR_BYTES = 1 << 31  # a tensor declared larger than this is refused before any allocation
MAX_TOTAL_BYTES = 1 << 31  # and tensors declared larger than this together
_EDGETPU_HINT = (
    "install the Edge TPU runtime (Debian package libedgetpu1-std from Coral's apt repository) "
    "and plug in the Coral device, or leave the delegate setting out to run on the CPU"
)


class LiteRtConfig(BackendSettings):
    """Settings for the LiteRT backend."""

    threads_field: ClassVar[str | None] = "num_threads"
    device_field: ClassVar[str | None] = "delegate"  # --device edgetpu

    type: Literal["litert"] = "litert"
    num_threads: int = Field(default=0, ge=0, description="CPU threads; 0 lets LiteRT choose")
    delegate: Literal["cpu", "edgetpu"] = Field(
        default="cpu",
        description="'edgetpu' (--device edgetpu): the Coral Edge TPU delegate (untested on hardware)",
    )

    def capabilities(self) -> Capabilities:
        """One interpreter holds its tensors between set and get: one call at a time."""
        return Capabilities(
            thread_safe=False, preferred_workers=1, dynamic_shapes=False, threads_setting=True
        )


class LiteRtBackend:
    """Runs ``.tflite`` files with ``ai_edge_litert``'s interpreter."""

    name = "litert"
    Config = LiteRtConfig

    def __init__(self, config: LiteRtConfig | None = None) -> None:
        self.config = config or LiteRtConfig()
        self._interpreter: Any = None
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []

    def capabilities(self) -> Capabilities:
        return self.config.capabilities()

    @staticmethod
    def available() -> bool:
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            return False
        return True

    def _delegates(self) -> list[Any] | None:
        if self.config.delegate == "cpu":
            return None
        import ctypes

        from ai_edge_litert.interpreter import load_delegate

        try:
            ctypes.CDLL(EDGETPU_LIBRARY)  # first: LiteRT's own failure leaves a noisy half-made delegate
            return [load_delegate(EDGETPU_LIBRARY)]
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(
                f"Edge TPU delegate unavailable: could not load {EDGETPU_LIBRARY} ({exc}); {_EDGETPU_HINT}"
            ) from None

    def load(self, model_path: Path) -> ModelSpec:
        from ai_edge_litert.interpreter import Interpreter

        model_path = Path(model_path)
        if not model_path.is_file():
            raise BackendError(f"LiteRT could not load {model_path.name}: no such file")
        threads = self.config.num_threads or None
        delegates = self._delegates()
        try:
            interpreter = Interpreter(
                model_path=str(model_path), num_threads=threads, experimental_delegates=delegates
            )
            _check_sizes(interpreter, model_path.name)
            interpreter.allocate_tensors()
        except BackendError:
            raise
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its own text
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"LiteRT could not load {model_path.name}: {first}") from None
        self._interpreter = interpreter
        self._inputs = list(interpreter.get_input_details())
        self._outputs = list(interpreter.get_output_details())
        return ModelSpec(
            inputs=tuple(_spec(d, is_input=True) for d in self._inputs),
            outputs=tuple(_spec(d, is_input=False) for d in self._outputs),
        )

    def infer(self, inputs: Mapping[str, Tensor]) -> list[Tensor]:
        interpreter = self._interpreter
        if interpreter is None:
            raise BackendError("litert backend: call load() before infer()")
        try:
            for detail in self._inputs:
                name = detail["name"]
                if name not in inputs:
                    raise BackendError(f"LiteRT inference: missing input '{name}'")
                array = quantize_input(np.asarray(inputs[name]), detail)
                if tuple(array.shape) != tuple(detail["shape"]):
                    interpreter.resize_input_tensor(detail["index"], array.shape)
                    interpreter.allocate_tensors()
                    detail["shape"] = np.asarray(array.shape)
                interpreter.set_tensor(detail["index"], array)
            interpreter.invoke()
            return [dequantize_output(interpreter.get_tensor(d["index"]), d) for d in self._outputs]
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"LiteRT inference failed: {exc}") from None

    def tensor_details(self) -> list[dict[str, Any]]:
        """Every tensor of the loaded model as LiteRT describes it (name, shape, dtype, quantization)."""
        if self._interpreter is None:
            raise BackendError("litert backend: call load() before tensor_details()")
        return list(self._interpreter.get_tensor_details())

    def close(self) -> None:
        self._interpreter = None
        self._inputs = []
        self._outputs = []


def _check_sizes(interpreter: Any, model_name: str) -> None:
    """Refuse a model that declares a gigantic tensor, or many large ones (a crafted file), before
    LiteRT allocates them."""
    total = 0
    for detail in interpreter.get_tensor_details():
        shape = [max(int(d), 1) for d in detail["shape"]]
        size = int(np.prod(shape, dtype=np.float64)) * np.dtype(detail["dtype"]).itemsize
        if size > MAX_TENSOR_BYTES:
            raise BackendError(
                f"LiteRT could not load {model_name}: tensor '{detail['name']}' declares shape {shape} "
                f"({size / 2**30:.3g} GiB, more than {MAX_TENSOR_BYTES / 2**30:g} GiB): "
                "not a model for this device"
            )
        total += size
        if total > MAX_TOTAL_BYTES:
            raise BackendError(
                f"LiteRT could not load {model_name}: its tensors declare more than "
                f"{MAX_TOTAL_BYTES / 2**30:g} GiB in all: not a model for this device"
            )


def _scale_zero(detail: Mapping[str, Any]) -> tuple[float, int] | None:
    """(scale, zero point) of a per-tensor quantized integer tensor, else None."""
    scale, zero = detail.get("quantization", (0.0, 0))
    if not np.issubdtype(np.dtype(detail["dtype"]), np.integer) or not scale:
        return None
    return float(scale), int(zero)


def quantize_input(array: Tensor, detail: Mapping[str, Any]) -> Tensor:
    """A float tensor quantized for an integer input (round to nearest, saturate); others cast."""
    dtype = np.dtype(detail["dtype"])
    params = _scale_zero(detail)
    if params is not None and np.issubdtype(array.dtype, np.floating):
        scale, zero = params
        info = np.iinfo(dtype)
        q = np.round(array.astype(np.float32) / np.float32(scale)) + zero
        return np.clip(q, info.min, info.max).astype(dtype)
    return np.ascontiguousarray(array, dtype=dtype)


def dequantize_output(array: Tensor, detail: Mapping[str, Any]) -> Tensor:
    """An integer output turned back into floats with its scale and zero point."""
    params = _scale_zero(detail)
    if params is None:
        return array
    scale, zero = params
    return ((array.astype(np.float32) - np.float32(zero)) * np.float32(scale)).astype(np.float32)


def _spec(detail: Mapping[str, Any], is_input: bool) -> TensorSpec:
    """The tensor as the Predictor sees it: quantized tensors appear as float32, except a uint8
    input, which takes the image's bytes as they are (quantized image models fold their
    normalisation into that input's scale and zero point)."""
    signature = detail.get("shape_signature")
    dims = signature if signature is not None and len(signature) else detail["shape"]
    shape = tuple(int(d) if int(d) >= 0 else None for d in dims)
    dtype = np.dtype(detail["dtype"]).name
    if _scale_zero(detail) is not None and not (is_input and dtype == "uint8"):
        dtype = "float32"
    return TensorSpec(str(detail["name"]), shape, dtype)
