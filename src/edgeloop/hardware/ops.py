"""Which ONNX operators each runtime's compiler takes, where a list is published.

Runtimes that accept (nearly) all of standard ONNX are not listed; for the
accelerator compilers below, an operator outside the list is flagged, because
it either fails to compile or falls back to the host CPU. The lists are
conservative summaries of the vendors' documents named in ``SOURCES`` (mapped
from their layer names to ONNX operators), not exhaustive support matrices:
a flag means "check this operator", not a proven failure.
"""

from __future__ import annotations

# Shape plumbing that converters fold away or map to free reshapes.
_PLUMBING = frozenset(
    {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Constant", "Shape", "Gather", "Cast"}
)

SUPPORTED: dict[str, frozenset[str]] = {
    # Edge TPU: the TFLite ops the Edge TPU compiler maps (Coral "supported operations" table).
    "edgetpu": _PLUMBING
    | frozenset(
        {
            "Add",
            "AveragePool",
            "Concat",
            "Conv",
            "Gemm",
            "MatMul",
            "MaxPool",
            "Mul",
            "Pad",
            "Relu",
            "Sigmoid",
            "Softmax",
            "Sub",
            "Tanh",
            "Resize",
            "Split",
            "Slice",
            "Transpose",
            "Mean",
            "ReduceMean",
            "Squeeze",
            "LeakyRelu",
            "Clip",
            "HardSwish",
            "PRelu",
            "Max",
            "Min",
            "GlobalAveragePool",
        }
    ),
    # Hailo Dataflow Compiler: supported layers (convolutions, pooling, elementwise, resize,
    # concat, softmax, common activations).
    "hailort": _PLUMBING
    | frozenset(
        {
            "Add",
            "AveragePool",
            "BatchNormalization",
            "Concat",
            "Conv",
            "ConvTranspose",
            "Gemm",
            "MatMul",
            "MaxPool",
            "Mul",
            "Sub",
            "Div",
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "Softmax",
            "Resize",
            "Split",
            "Slice",
            "Transpose",
            "GlobalAveragePool",
            "Clip",
            "HardSwish",
            "PRelu",
            "Pad",
            "ReduceMax",
            "ReduceSum",
            "ReduceMean",
        }
    ),
    # RKNN-Toolkit2 operator support list (NPU-executed operators).
    "rknn": _PLUMBING
    | frozenset(
        {
            "Add",
            "AveragePool",
            "BatchNormalization",
            "Concat",
            "Conv",
            "ConvTranspose",
            "Gemm",
            "MatMul",
            "MaxPool",
            "Mul",
            "Sub",
            "Div",
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "Softmax",
            "Resize",
            "Split",
            "Slice",
            "Transpose",
            "GlobalAveragePool",
            "Clip",
            "HardSwish",
            "HardSigmoid",
            "PRelu",
            "Pad",
            "ReduceMax",
            "ReduceSum",
            "ReduceMean",
            "Exp",
            "Tanh",
            "Pow",
            "Sqrt",
            "Max",
            "Min",
        }
    ),
}

SOURCES = {
    "edgetpu": "https://coral.ai/docs/edgetpu/models-intro/#supported-operations",
    "hailort": "Hailo Dataflow Compiler user guide, 'Supported layers' (hailo.ai developer zone)",
    "rknn": "rknn-toolkit2 operator support list (github.com/airockchip/rknn-toolkit2, doc/)",
}

# Every runtime edgeloop knows about, for the support columns of `edgeloop profile`.
RUNTIMES = (
    "onnxruntime", "openvino", "tensorrt", "tflite", "ncnn", "edgetpu", "hailort", "rknn", "depthai"
)  # fmt: skip


def supported(runtime: str, op_type: str) -> bool:
    """Whether ``runtime`` is known to take ``op_type`` (True where no list restricts it)."""
    allowed = SUPPORTED.get(runtime)
    return allowed is None or op_type in allowed


__all__ = ["RUNTIMES", "SOURCES", "SUPPORTED", "supported"]
