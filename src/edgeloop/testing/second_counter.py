"""A second MAC counter (onnx-tool) to check ``edgeloop profile`` against, for tests and benchmarks.

onnx-tool (the ``dev`` extra) infers shapes and values itself, so it is an independent
check of :mod:`edgeloop.hardware.profile`. Two things it needs that ``edgeloop
export`` models do not give it on their own: a static input (it refuses a dynamic
batch axis; pass the shape to count at), and 2-D MatMul operands (the box
distribution decoding multiplies by a 1-D ``arange``, which onnx-tool 1.0 rejects:
it is rewritten here as the equivalent ``MatMul`` by a column then ``Squeeze``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def onnx_tool_macs(path: str | Path, input_shape: list[int]) -> float:
    """Multiply-accumulates of the Conv/ConvTranspose/MatMul/Gemm nodes of ``path``, by onnx-tool.

    Args:
        path: ONNX model; its first input is fed zeros of ``input_shape`` (float32).
        input_shape: static shape to count at, e.g. ``[1, 3, 320, 320]``.

    Raises:
        ImportError: onnx-tool is not installed.
    """
    import onnx
    import onnx_tool

    model = onnx.load(str(path))
    _matmul_vectors_to_columns(model)
    with tempfile.TemporaryDirectory() as tmp:
        fixed = Path(tmp) / "model.onnx"
        onnx.save(model, str(fixed))
        counted = onnx_tool.Model(str(fixed))
    graph = counted.graph
    graph.graph_reorder_nodes()
    graph.shape_infer({model.graph.input[0].name: np.zeros(input_shape, np.float32)})
    graph.profile()
    total = 0.0
    for node in graph.nodemap.values():
        if node.op_type in COUNTED:
            total += float(node.macs[0] if isinstance(node.macs, list) else node.macs)
    return total


def _constants(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _matmul_vectors_to_columns(model: Any) -> None:
    """Rewrite ``MatMul(A, v)`` with a constant 1-D ``v`` as ``Squeeze(MatMul(A, v[:, None]), -1)``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = _constants(graph)
    nodes = []
    for node in graph.node:
        vector = constants.get(node.input[1]) if node.op_type == "MatMul" else None
        if vector is None or vector.ndim != 1:
            nodes.append(node)
            continue
        column, axes, product = (f"{node.output[0]}__{s}" for s in ("column", "axes", "product"))
        graph.initializer.extend(
            [
                numpy_helper.from_array(vector.reshape(-1, 1), column),
                numpy_helper.from_array(np.array([-1], np.int64), axes),
            ]
        )
        nodes.append(helper.make_node("MatMul", [node.input[0], column], [product], name=node.name))
        nodes.append(
            helper.make_node("Squeeze", [product, axes], [node.output[0]], name=f"{node.name}_squeeze")
        )
    del graph.node[:]
    graph.node.extend(nodes)


__all__ = ["COUNTED", "onnx_tool_macs"]
