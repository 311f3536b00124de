"""Layers + weights -> an ONNX model whose outputs are the raw maps feeding each [yolo] layer.

Output ``i`` is the ``[1, anchors * (5 + classes), H, W]`` tensor that the ``i``-th [yolo]
layer of the cfg reads; decoding (sigmoid, grid, anchors) is left to the ``yolo-anchors``
decoder so that the same bundle can be decoded on a host for any runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.convert.darknet.layers import Layer, Network
from edgeloop.convert.darknet.weights import ConvWeights

OPSET = 13
INPUT_NAME = "images"


def output_name(k: int) -> str:
    return f"yolo{k}"


class _Builder:
    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def const(self, name: str, value: np.ndarray[Any, Any]) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def activation(self, kind: str, x: str, name: str) -> str:
        if kind == "linear":
            return x
        if kind == "leaky":
            return self.node("LeakyRelu", [x], name, alpha=0.1)
        if kind == "relu":
            return self.node("Relu", [x], name)
        if kind == "logistic":
            return self.node("Sigmoid", [x], name)
        if kind == "swish":
            return self.node("Mul", [x, self.node("Sigmoid", [x], f"{name}_sig")], name)
        # mish: x * tanh(softplus(x))
        soft = self.node("Softplus", [x], f"{name}_softplus")
        return self.node("Mul", [x, self.node("Tanh", [soft], f"{name}_tanh")], name)


def _conv(b: _Builder, layer: Layer, x: str, w: ConvWeights) -> str:
    name = f"conv{layer.index}"
    k = b.const(f"{name}.weight", w.kernel)
    bias = b.const(f"{name}.bias", w.bias)
    p = layer.pad[0]
    y = b.node(
        "Conv", [x, k, bias], name, kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2,
        pads=[p, p, p, p], group=layer.groups,
    )  # fmt: skip
    return b.activation(layer.activation, y, f"{name}_{layer.activation}")


def _route(b: _Builder, layer: Layer, network: Network, names: dict[int, str]) -> str:
    parts = []
    for ref in layer.inputs:
        x = names[ref]
        if layer.groups > 1:
            c = network.shape_of(ref)[0] // layer.groups
            start = b.const(f"route{layer.index}_{ref}.start", np.array([c * layer.group_id], np.int64))
            end = b.const(f"route{layer.index}_{ref}.end", np.array([c * (layer.group_id + 1)], np.int64))
            axes = b.const(f"route{layer.index}_{ref}.axes", np.array([1], np.int64))
            x = b.node("Slice", [x, start, end, axes], f"route{layer.index}_{ref}")
        parts.append(x)
    if len(parts) == 1:
        return parts[0]
    return b.node("Concat", parts, f"route{layer.index}", axis=1)


def _layer(
    b: _Builder, layer: Layer, network: Network, names: dict[int, str], weights: dict[int, ConvWeights]
) -> str:
    x = names[layer.inputs[0]]
    i = layer.index
    if layer.kind == "convolutional":
        return _conv(b, layer, x, weights[i])
    if layer.kind == "maxpool":
        if layer.size == 1 and layer.stride == 1:
            return x
        lo, hi = layer.pad
        return b.node(
            "MaxPool", [x], f"pool{i}", kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2,
            pads=[lo, lo, hi, hi],
        )  # fmt: skip
    if layer.kind == "route":
        return _route(b, layer, network, names)
    if layer.kind == "shortcut":
        return b.node("Add", [x, names[layer.inputs[1]]], f"shortcut{i}")
    if layer.kind == "upsample":
        s = float(layer.stride)
        roi = b.const(f"upsample{i}.roi", np.zeros(0, np.float32))
        scales = b.const(f"upsample{i}.scales", np.array([1, 1, s, s], np.float32))
        return b.node(
            "Resize", [x, roi, scales], f"upsample{i}", mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )  # fmt: skip
    return x  # yolo: its input is the raw output


def build_onnx(network: Network, weights: dict[int, ConvWeights], out: Path, producer: str) -> Path:
    """Write the ONNX model for ``network`` to ``out``; returns ``out``."""
    import onnx
    from onnx import TensorProto, helper

    b = _Builder()
    names: dict[int, str] = {-1: INPUT_NAME}
    outputs: list[Any] = []
    for layer in network.layers:
        names[layer.index] = _layer(b, layer, network, names, weights)
        if layer.kind == "yolo":
            k = len(outputs)
            b.node("Identity", [names[layer.index]], output_name(k))
            c, h, w = layer.out
            outputs.append(helper.make_tensor_value_info(output_name(k), TensorProto.FLOAT, [1, c, h, w]))
    image = helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.FLOAT, [1, network.channels, network.height, network.width]
    )
    graph = helper.make_graph(b.nodes, "darknet", [image], outputs, initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
    model.ir_version = 8
    data = model.SerializeToString()  # once: checked and written from the same bytes
    onnx.checker.check_model(data)
    out.write_bytes(data)
    return out
