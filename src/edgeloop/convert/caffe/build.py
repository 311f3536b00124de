"""Walk a Caffe network in order and build the ONNX graph; collect the SSD head on the way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeloop.convert.caffe import layers, tensors
from edgeloop.convert.caffe.graph import Graph
from edgeloop.convert.caffe.head import detection_output, prior_box, priors_per_cell
from edgeloop.convert.caffe.net import Layer, Net, NetError
from edgeloop.convert.caffe.weights import CaffeWeights

CONVERTERS: dict[str, layers.Converter] = {
    "Convolution": layers.convolution,
    "BatchNorm": layers.batch_norm,
    "Scale": layers.scale,
    "ReLU": layers.relu,
    "PReLU": layers.prelu,
    "Normalize": layers.normalize,
    "Sigmoid": layers.unary("Sigmoid"),
    "TanH": layers.unary("Tanh"),
    "Pooling": layers.pooling,
    "Dropout": layers.identity,
    "Split": layers.identity,
    "InnerProduct": tensors.inner_product,
    "Softmax": tensors.softmax,
    "Concat": tensors.concat,
    "Flatten": tensors.flatten,
    "Permute": tensors.permute,
    "Reshape": tensors.reshape,
    "Eltwise": tensors.eltwise,
}
TRAINING_ONLY = frozenset(
    {"Data", "ImageData", "HDF5Data", "AnnotatedData", "WindowData", "MemoryData", "DummyData"}
    | {"SoftmaxWithLoss", "EuclideanLoss", "MultiBoxLoss", "Accuracy", "SigmoidCrossEntropyLoss", "Silence"}
)
SUPPORTED = sorted([*CONVERTERS, "Input", "PriorBox", "DetectionOutput"])


@dataclass
class Built:
    """The ONNX bytes, its input and outputs, the Caffe layer behind each output, the SSD head."""

    onnx: bytes
    input_name: str
    input_shape: tuple[int, ...]
    outputs: list[str]
    output_shapes: list[tuple[int, ...]]
    output_layers: list[str]
    head: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def build(net: Net, weights: CaffeWeights) -> Built:
    """Convert ``net`` with ``weights`` into an ONNX model.

    Raises:
        NetError: an unsupported layer or parameter, shapes that do not fit, a missing blob.
        WeightsError: the weights do not fit the prototxt.
    """
    if len(net.inputs) != 1:
        raise NetError(f"the network has {len(net.inputs)} inputs; edgeloop converts image models with one")
    ((input_name, input_shape),) = net.inputs.items()
    if len(input_shape) != 4 or input_shape[1] not in (1, 3):
        raise NetError(
            f"input '{input_name}' has shape {list(input_shape)}; an image input is N x 1|3 x H x W"
        )
    input_shape = (1, *input_shape[1:])
    graph = Graph(net.name or "caffe")
    ctx = layers.Context(graph, weights)
    blobs = {input_name: graph.add_input(input_name, input_shape)}
    producer = {input_name: input_name}
    priors: dict[str, list[dict[str, Any]]] = {}
    consumed: set[str] = set()
    detection: tuple[Layer, dict[str, Any]] | None = None
    for layer in net.layers:
        if layer.type in TRAINING_ONLY:
            raise NetError(
                f"layer '{layer.name}' is a {layer.type} layer, used for training: import the network's "
                "deploy.prototxt (the one with an input shape and no data or loss layers)"
            )
        for b in layer.bottoms:
            if b not in blobs and b not in priors:
                raise NetError(f"layer '{layer.name}' reads blob '{b}', which no earlier layer makes")
        if layer.type == "PriorBox":
            if len(layer.bottoms) < 2:
                raise NetError(f"PriorBox '{layer.name}' needs a feature map and the image as bottoms")
            fmap, image = graph.shapes[blobs[layer.bottoms[0]]], graph.shapes[blobs[layer.bottoms[1]]]
            priors[layer.tops[0]] = [prior_box(layer, (fmap[2], fmap[3]), (image[2], image[3]))]
            continue
        if layer.type == "Concat" and layer.bottoms and all(b in priors for b in layer.bottoms):
            priors[layer.tops[0]] = [p for b in layer.bottoms for p in priors[b]]
            continue
        if layer.type == "DetectionOutput":
            if detection is not None or len(layer.bottoms) < 3 or layer.bottoms[2] not in priors:
                raise NetError(f"DetectionOutput '{layer.name}' needs loc, conf and prior-box bottoms")
            found = {
                **detection_output(layer),
                "input_hw": list(input_shape[2:]),
                "priors": priors[layer.bottoms[2]],
            }
            detection = (layer, found)
            consumed.update(layer.bottoms)
            continue
        if any(b in priors for b in layer.bottoms):
            raise NetError(
                f"layer '{layer.name}' ({layer.type}) reads prior boxes; only Concat and DetectionOutput may"
            )
        convert = CONVERTERS.get(layer.type)
        if convert is None:
            raise NetError(
                f"layer '{layer.name}' has type {layer.type}, which edgeloop's Caffe converter does not "
                f"support "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        if not layer.tops:
            raise NetError(f"layer '{layer.name}' has no top")
        consumed.update(layer.bottoms)
        outs = convert(ctx, layer, [blobs[b] for b in layer.bottoms])
        for top, out in zip(layer.tops, outs, strict=False):
            blobs[top] = out
            producer[top] = layer.name
            consumed.discard(top)
    head: dict[str, Any] | None = None
    if detection is not None:
        layer, head = detection
        names = list(layer.bottoms[:2])
        _check_ssd(layer, head, [graph.shapes[blobs[n]] for n in names])
    else:
        names = [top for top in blobs if top not in consumed and top != input_name and top not in priors]
        if not names:
            raise NetError("the network has no output")
        shape = graph.shapes[blobs[names[0]]]
        if len(names) == 1 and len(shape) == 4 and shape[2:] == (1, 1):  # (1, C, 1, 1) scores -> (1, C)
            target = graph.const(f"{names[0]}.shape", np.array(shape[:2], np.int64))
            blobs[names[0]] = graph.node("Reshape", [blobs[names[0]], target], f"{names[0]}_2d", shape[:2])
    graph.outputs = list(dict.fromkeys(blobs[n] for n in names))
    if len(graph.outputs) != len(names):
        raise NetError("two outputs of the network are the same tensor")
    return Built(
        onnx=graph.serialize(),
        input_name=input_name,
        input_shape=input_shape,
        outputs=graph.outputs,
        output_shapes=[graph.shapes[o] for o in graph.outputs],
        output_layers=[producer[n] for n in names],
        head=head,
    )


def _check_ssd(layer: Layer, head: dict[str, Any], shapes: list[tuple[int, ...]]) -> None:
    count = sum(priors_per_cell(p) * p["feature_hw"][0] * p["feature_hw"][1] for p in head["priors"])
    loc, conf = (math.prod(s) for s in shapes)
    if loc != 4 * count or conf != head["num_classes"] * count:
        raise NetError(
            f"DetectionOutput '{layer.name}': {count} prior boxes need {4 * count} location and "
            f"{head['num_classes'] * count} confidence values; the network gives {loc} and {conf}"
        )
