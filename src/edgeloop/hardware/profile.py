"""Profile an ONNX model: parameters, MACs/FLOPs per layer, memory, operators.

Shapes come from ONNX shape inference, so the counts need no runtime and no
input data. Conventions (the ones model cards use):

- ``macs``: multiply-accumulates of Conv, ConvTranspose, MatMul and Gemm.
- ``flops`` = 2 x ``macs`` (the "GFLOPs" of YOLO model cards).
- ``other_ops``: one operation per output element of every other operator
  (activations, pooling, elementwise), reported apart so that ``flops`` stays
  comparable with published numbers.
- ``params``: elements of the initializers that Conv, Gemm, MatMul and
  normalisation layers take as weights (constant grids and shapes are not
  parameters); ``weight_bytes`` counts every initializer.
- peak activation memory: the largest sum of live intermediate tensors when
  the graph runs in its stored (topological) order, each tensor freed after
  its last consumer; weights are counted apart.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from edgeloop.errors import EdgeloopError
from edgeloop.hardware.ops import RUNTIMES, supported
from edgeloop.hardware.shapes import infer_static, static_dims

_ONNX_MISSING = "the profiler needs the 'onnx' package: pip install 'edgeloop[profile]'"
# Operators whose initializer inputs are learned weights (others hold constants: grids, shapes).
_WEIGHTED = frozenset(
    {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "InstanceNormalization",
     "LayerNormalization", "PRelu"}
)  # fmt: skip
_COUNTED = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


class ProfileError(EdgeloopError):
    """A model could not be profiled."""


class Layer(BaseModel):
    """One node of the graph."""

    name: str
    op: str
    output_shape: list[int]
    macs: int = 0
    params: int = 0


class OpCount(BaseModel):
    """How often an operator appears, and which runtimes are known to take it."""

    op: str
    count: int
    supported: dict[str, bool]


class ModelProfile(BaseModel):
    """What a model costs to run, independent of hardware."""

    model: str
    input_shape: list[int]
    imgsz: int | None = Field(description="input height if the input is square NCHW/NHWC image-like")
    dynamic_size: bool = Field(
        default=False, description="the model's input height/width are dynamic: it runs at other sizes too"
    )
    params: int
    weight_bytes: int
    macs: int
    flops: int
    other_ops: int
    peak_activation_bytes: int
    layers: list[Layer]
    operators: list[OpCount]
    unshaped_layers: list[str] = Field(
        default_factory=list, description="layers whose output shape could not be inferred (not counted)"
    )

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    def shape_warning(self) -> str | None:
        """A sentence saying the counts are incomplete when some layers got no shape, else None."""
        if not self.unshaped_layers:
            return None
        names = set(self.unshaped_layers)
        heavy = sum(1 for layer in self.layers if layer.name in names and layer.op in _COUNTED)
        return (
            f"{len(names)} of {len(self.layers)} layers got no static shape ({heavy} of them "
            f"Conv/MatMul/Gemm, first: {self.unshaped_layers[0]}): their cost is not counted, so "
            "MACs/FLOPs and activation memory are too low; pass --imgsz or export with static shapes"
        )

    def unsupported(self) -> dict[str, list[str]]:
        """Runtime -> operators of this model it is not known to take (only runtimes with some)."""
        out: dict[str, list[str]] = {}
        for count in self.operators:
            for runtime, ok in count.supported.items():
                if not ok:
                    out.setdefault(runtime, []).append(count.op)
        return out


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ProfileError(_ONNX_MISSING) from None
    return onnx


def _prod(shape: list[int]) -> int:
    return math.prod(shape) if shape else 1


def _dynamic_size(model: Any) -> bool:
    """Whether the first input is 4-D image-like with a dynamic height, width or channel axis."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise ProfileError("the model has no inputs")
    dims = inputs[0].type.tensor_type.shape.dim
    return len(dims) == 4 and any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims[1:])


def _fix_input(model: Any, imgsz: int | None, dynamic_imgsz: int | None = None) -> list[int]:
    """Give the first graph input static dims (batch 1, ``imgsz`` for dynamic H/W); return its shape."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise ProfileError("the model has no inputs")
    dims = inputs[0].type.tensor_type.shape.dim
    size = imgsz or dynamic_imgsz
    shape = []
    for axis, dim in enumerate(dims):
        spatial = len(dims) == 4 and axis >= 1
        if imgsz is not None and len(dims) == 4 and axis >= 2 and dims[1].dim_value in (1, 3):
            dim.ClearField("dim_param")
            dim.dim_value = imgsz
        elif not dim.HasField("dim_value") or dim.dim_value <= 0:
            if spatial and size is None:
                raise ProfileError(
                    f"input '{inputs[0].name}' has a dynamic size: pass --imgsz to profile it at a fixed size"
                )
            dim.ClearField("dim_param")
            dim.dim_value = size if spatial and size else 1
        shape.append(dim.dim_value)
    for other in inputs[1:]:
        if static_dims(other.type) is None:
            raise ProfileError(f"input '{other.name}' has a dynamic shape; only the first input can be fixed")
    return shape


def _node_macs(node: Any, shapes: dict[str, list[int]], weights: dict[str, list[int]]) -> int:
    out = shapes.get(node.output[0]) if node.output else None
    if out is None:
        return 0
    if node.op_type == "Conv" and len(node.input) > 1:
        w = weights.get(node.input[1]) or shapes.get(node.input[1])
        return _prod(out) * _prod(w[1:]) if w else 0  # each output: Cin/group x kH x kW
    if node.op_type == "ConvTranspose" and len(node.input) > 1:
        w = weights.get(node.input[1]) or shapes.get(node.input[1])
        x = shapes.get(node.input[0])
        return _prod(x) * _prod(w[1:]) if w and x else 0  # each input: Cout/group x kH x kW
    if node.op_type in ("MatMul", "Gemm"):
        a = shapes.get(node.input[0])
        if not a:
            return 0
        k = a[0] if node.op_type == "Gemm" and _attr(node, "transA") else a[-1]
        return _prod(out) * k
    return 0


def _attr(node: Any, name: str) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return 0


def profile_onnx(
    path: str | Path, imgsz: int | None = None, dynamic_imgsz: int | None = None
) -> ModelProfile:
    """Profile the ONNX model at ``path`` (at ``imgsz`` if given or if its input size is dynamic).

    ``dynamic_imgsz``: the size a dynamic input height/width takes when ``imgsz`` is None
    (a fixed input keeps its own size).

    Raises:
        ProfileError: onnx not installed, unreadable model, or shapes that cannot be inferred.
    """
    onnx = _onnx()
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ProfileError(f"{path}: not a readable ONNX model ({exc})") from None
    dynamic_size = _dynamic_size(model)
    input_shape = _fix_input(model, imgsz, dynamic_imgsz)
    try:
        inferred = infer_static(model)
    except Exception as exc:
        raise ProfileError(f"{path}: ONNX shape inference failed ({exc})") from None
    graph = model.graph
    weights = {i.name: list(i.dims) for i in graph.initializer}
    weight_bytes = sum(_prod(list(i.dims)) * _BYTES.get(i.data_type, 4) for i in graph.initializer)
    learned = {n for node in graph.node if node.op_type in _WEIGHTED for n in node.input if n in weights}
    params = sum(_prod(weights[n]) for n in learned)
    shapes, dtypes = _shapes_and_types(inferred.graph)
    layers, other_ops, unshaped = [], 0, []
    for i, node in enumerate(graph.node):
        out = shapes.get(node.output[0], []) if node.output else []
        if node.output and node.output[0] not in shapes:
            unshaped.append(node.name or f"{node.op_type}_{i}")
        macs = _node_macs(node, shapes, weights)
        if macs == 0 and node.op_type not in ("Constant", "Shape", "Reshape", "Identity"):
            other_ops += _prod(out) if out else 0
        layers.append(
            Layer(
                name=node.name or f"{node.op_type}_{i}",
                op=node.op_type,
                output_shape=out,
                macs=macs,
                params=sum(_prod(weights[n]) for n in node.input if n in learned),
            )
        )
    macs_total = sum(layer.macs for layer in layers)
    return ModelProfile(
        model=path.name,
        input_shape=input_shape,
        dynamic_size=dynamic_size,
        imgsz=_square_size(input_shape),
        params=params,
        weight_bytes=weight_bytes,
        macs=macs_total,
        flops=2 * macs_total,
        other_ops=other_ops,
        peak_activation_bytes=_peak_activation(graph, shapes, dtypes, set(weights)),
        layers=layers,
        operators=_operators(graph),
        unshaped_layers=unshaped,
    )


def _shapes_and_types(graph: Any) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Static shape and element type of every tensor of a shape-inferred graph that has one."""
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    dtypes = {i.name: int(i.data_type) for i in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = static_dims(info.type)
        if dims is not None:
            shapes[info.name] = dims
            dtypes[info.name] = info.type.tensor_type.elem_type
    return shapes, dtypes


def _square_size(shape: list[int]) -> int | None:
    if len(shape) == 4 and shape[2] == shape[3]:
        return shape[2]
    if len(shape) == 4 and shape[1] == shape[2]:
        return shape[1]
    return None


def _peak_activation(
    graph: Any, shapes: dict[str, list[int]], dtypes: dict[str, int], weights: set[str]
) -> int:
    """Largest total size of live intermediate tensors while running nodes in stored order."""
    last_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            last_use[name] = i
    outputs = {o.name for o in graph.output}

    def size(name: str) -> int:
        return _prod(shapes[name]) * _BYTES.get(dtypes.get(name, 1), 4) if name in shapes else 0

    live = {i.name: size(i.name) for i in graph.input if i.name not in weights}
    peak = sum(live.values())
    for i, node in enumerate(graph.node):
        for name in node.output:
            if name:
                live[name] = size(name)
        peak = max(peak, sum(live.values()))
        for name in list(live):
            if last_use.get(name, -1) <= i and name not in outputs:
                del live[name]
    return peak


def _operators(graph: Any) -> list[OpCount]:
    counts: dict[str, int] = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return [
        OpCount(op=op, count=n, supported={rt: supported(rt, op) for rt in RUNTIMES})
        for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
