"""Static tensor shapes of an ONNX graph, with its shape arithmetic folded first.

ONNX shape inference alone stops where a shape is computed at run time: torch's
``chunk``/``split`` export as ``Shape -> Gather -> Add -> Div -> Mul -> Slice``, and
ONNX's data propagation does not follow every one of those operators, so every
tensor behind such a Slice (most of a YOLO-style network) gets no shape. Once the
input has static dims, that arithmetic only ever sees constants; this module
evaluates it (ONNX's reference implementation, one small node at a time) on a copy
of the model, turns its results into initializers and infers again, until nothing
more folds. The caller's model is not changed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Constant inputs larger than this are weights, not shape arithmetic: never evaluated.
_MAX_FOLD_ELEMENTS = 1 << 12
# Operators whose output size comes from an input's values; evaluated only up to this many elements.
_MAX_MADE_ELEMENTS = 1 << 20
# Operators never evaluated ahead of time (random, or holding subgraphs).
_NO_FOLD = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
     "Bernoulli", "If", "Loop", "Scan"}
)  # fmt: skip
_MAX_ROUNDS = 64


def static_dims(type_proto: Any) -> list[int] | None:
    """The dims of a tensor type if every one is a known number, else None."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in type_proto.tensor_type.shape.dim]
    return dims if all(d >= 0 for d in dims) else None


def infer_static(model: Any) -> Any:
    """A shape-inferred copy of ``model`` whose constant shape arithmetic is folded into initializers.

    Tensor names of the nodes left are those of ``model``; a folded node's outputs
    become initializers of the same name. Nodes that fail to evaluate stay as they are.

    Raises:
        Exception: whatever ``onnx.shape_inference.infer_shapes`` raises on an invalid model.
    """
    import onnx

    work = onnx.ModelProto()
    work.CopyFrom(model)
    for _ in range(_MAX_ROUNDS):
        del work.graph.value_info[:]
        work = onnx.shape_inference.infer_shapes(work, strict_mode=False, data_prop=True)
        if not _fold(work):
            break
    return work


def _shapes(graph: Any) -> dict[str, list[int]]:
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = static_dims(info.type)
        if dims is not None:
            shapes[info.name] = dims
    return shapes


def _fold(model: Any) -> int:
    """Replace the nodes of ``model`` computable from constants by initializers; return how many."""
    from onnx import numpy_helper

    graph = model.graph
    shapes = _shapes(graph)
    values = {
        i.name: numpy_helper.to_array(i) for i in graph.initializer if math.prod(i.dims) <= _MAX_FOLD_ELEMENTS
    }
    outputs = {o.name for o in graph.output}
    opset = _default_opset(model)
    folded: list[tuple[Any, list[np.ndarray]]] = []
    for node in graph.node:
        if any(name in outputs for name in node.output):
            continue
        result = _evaluate(node, values, shapes, opset)
        if result is None:
            continue
        values.update(zip(node.output, result, strict=False))
        folded.append((node, result))
    for node, result in folded:
        graph.node.remove(node)
        for name, value in zip(node.output, result, strict=False):
            if name:
                graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return len(folded)


def _default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)


def _evaluate(
    node: Any, values: dict[str, np.ndarray], shapes: dict[str, list[int]], opset: int
) -> list[np.ndarray] | None:
    """The outputs of ``node`` if every input is a small known constant (or a static shape), else None."""
    if node.domain not in ("", "ai.onnx") or node.op_type in _NO_FOLD:
        return None
    if node.op_type in ("Shape", "Size"):
        dims = shapes.get(node.input[0])
        if dims is None:
            return None
        if node.op_type == "Size":
            return [np.array(math.prod(dims), dtype=np.int64)]
        attrs = {a.name: a.i for a in node.attribute}
        end = attrs.get("end", len(dims))
        return [np.array(dims[attrs.get("start", 0) : end], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    if not all(name in values for name in inputs):
        return None
    if any(np.asarray(values[name]).size > _MAX_FOLD_ELEMENTS for name in inputs):
        return None
    if _makes_more_than(node, values, _MAX_MADE_ELEMENTS):
        return None
    try:
        return _run_node(node, {name: values[name] for name in inputs}, opset)
    except Exception:  # an operator the reference runtime cannot evaluate: leave it to inference
        return None


def _makes_more_than(node: Any, values: dict[str, np.ndarray], limit: int) -> bool:
    """Whether a node sizing its output from input values (a shape, repeats, a range) exceeds ``limit``."""
    try:
        if node.op_type in ("ConstantOfShape", "Expand"):
            return math.prod(int(d) for d in values[node.input[-1]].ravel()) > limit
        if node.op_type == "Tile":
            return (
                values[node.input[0]].size * math.prod(int(r) for r in values[node.input[1]].ravel()) > limit
            )
        if node.op_type == "Range":
            start, stop, step = (float(values[name]) for name in node.input[:3])
            return step == 0 or (stop - start) / step > limit
    except (KeyError, TypeError, ValueError, OverflowError):
        return True
    return False


def _run_node(node: Any, feeds: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_empty_tensor_value_info(name) for name in feeds],
        [helper.make_empty_tensor_value_info(name) for name in node.output if name],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]


__all__ = ["infer_static", "static_dims"]
