"""A Caffe network description (``deploy.prototxt``) as layers and input shapes."""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.convert.caffe.text import Message, TextFormatError, parse

MAX_PROTOTXT_BYTES = 16 * 1024 * 1024
MAX_DIM = 1 << 16
"""Largest input dimension accepted (a 65536-pixel side)."""

# Legacy ``layers { type: CONVOLUTION }`` (V1LayerParameter) enum names -> current type names.
V1_TYPES = {
    "CONCAT": "Concat",
    "CONVOLUTION": "Convolution",
    "DROPOUT": "Dropout",
    "ELTWISE": "Eltwise",
    "FLATTEN": "Flatten",
    "INNER_PRODUCT": "InnerProduct",
    "POOLING": "Pooling",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SOFTMAX": "Softmax",
    "TANH": "TanH",
    "SPLIT": "Split",
}


class NetError(ValueError):
    """The network description is not one edgeloop can convert (the message says why)."""


@dataclass(frozen=True)
class Layer:
    """One layer: its name, type, input and output blob names, and its whole text message."""

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Message


@dataclass(frozen=True)
class Net:
    """The network: its input blobs with their shapes, then its layers in order."""

    name: str
    inputs: dict[str, tuple[int, ...]]
    layers: tuple[Layer, ...]


def _shape(dims: list[float], where: str) -> tuple[int, ...]:
    if not dims:
        raise NetError(f"{where}: the input shape has no dimensions")
    if len(dims) > 8:
        raise NetError(f"{where}: an input shape of {len(dims)} dimensions")
    out = []
    for d in dims:
        if d != int(d) or not 0 < d <= MAX_DIM:
            raise NetError(f"{where}: input dimension {d:g} is out of range (1..{MAX_DIM})")
        out.append(int(d))
    return tuple(out)


def _excluded(layer: Message) -> bool:
    """Layers meant for training only (``include { phase: TRAIN }``)."""
    phases = [m.text("phase", "") for m in layer.messages("include")]
    return bool(phases) and "TEST" not in phases


def read_net(text: str) -> Net:
    """Parse a ``deploy.prototxt``.

    Raises:
        NetError: bad syntax, no input shape, a layer without name or type, gigantic dimensions.
    """
    if len(text) > MAX_PROTOTXT_BYTES:
        raise NetError(
            f"the prototxt is larger than {MAX_PROTOTXT_BYTES >> 20} MiB: not a network description"
        )
    try:
        root = parse(text)
    except TextFormatError as exc:
        raise NetError(f"cannot parse the prototxt: {exc}") from None
    inputs: dict[str, tuple[int, ...]] = {}
    names = [str(v) for v in root.all("input")]
    shapes = root.messages("input_shape")
    legacy = root.numbers("input_dim")
    for i, name in enumerate(names):
        if i < len(shapes):
            inputs[name] = _shape(shapes[i].numbers("dim"), f"input '{name}'")
        elif legacy:
            inputs[name] = _shape(legacy[4 * i : 4 * i + 4], f"input '{name}'")
        else:
            raise NetError(f"input '{name}' has no input_shape or input_dim")
    layers: list[Layer] = []
    for index, msg in enumerate([*root.messages("layer"), *root.messages("layers")]):
        if _excluded(msg):
            continue
        kind = msg.text("type", "")
        kind = V1_TYPES.get(kind, kind)
        name = msg.text("name", f"layer{index}")
        if not kind:
            raise NetError(f"layer '{name}' has no type")
        layer = Layer(
            name=name,
            type=kind,
            bottoms=tuple(str(b) for b in msg.all("bottom")),
            tops=tuple(str(t) for t in msg.all("top")),
            params=msg,
        )
        if kind == "Input":
            param = msg.message("input_param")
            for i, top in enumerate(layer.tops):
                specs = param.messages("shape")
                if not specs:
                    raise NetError(f"Input layer '{name}' has no input_param {{ shape {{ dim: ... }} }}")
                inputs[top] = _shape(specs[min(i, len(specs) - 1)].numbers("dim"), f"input '{top}'")
            continue
        layers.append(layer)
    if not inputs:
        raise NetError("the prototxt declares no input shape (input_shape, input_dim or an Input layer)")
    return Net(name=root.text("name", "caffe"), inputs=inputs, layers=tuple(layers))
