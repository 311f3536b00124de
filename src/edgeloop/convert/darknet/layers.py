"""Cfg sections -> layers with their output shapes, following Darknet's own rules.

Shapes, references and sizes are all worked out and checked here, on the cfg alone, so
that the weights reader knows the exact float count before it opens the weights file.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.convert.darknet.cfg import Section
from edgeloop.errors import ModelImportError

MAX_SIDE = 4096  # net width / height
MAX_CHANNELS = 8192  # filters, input channels
MAX_KERNEL = 15
MAX_POOL = 64
MAX_STRIDE = 32
MAX_ELEMENTS = 1 << 27  # one layer's output (512 MiB of float32)
MAX_PARAMS = 1 << 28  # all weights (1 GiB of float32); YOLOv4 has 64 M
ACTIVATIONS = ("linear", "leaky", "mish", "logistic", "relu", "swish")
SUPPORTED = ("convolutional", "maxpool", "route", "shortcut", "upsample", "yolo")
# Options that change what a layer computes and that this importer does not implement.
UNSUPPORTED_OPTIONS = {
    "convolutional": ("binary", "xnor", "antialiasing", "share_index", "deform", "assisted_excitation"),
    "maxpool": ("maxpool_depth", "antialiasing", "stride_x", "stride_y"),
    "shortcut": ("weights_type",),
}

Shape = tuple[int, int, int]  # channels, height, width


@dataclass(frozen=True)
class Layer:
    """One Darknet layer (index = its position after [net], as Darknet counts).

    Attributes:
        inputs: absolute indices of the layers it reads (-1: the network input).
        out: its output shape (channels, height, width).
        pad: (begin, end) padding on each spatial axis.
    """

    index: int
    kind: str
    inputs: tuple[int, ...]
    out: Shape
    filters: int = 0
    size: int = 1
    stride: int = 1
    pad: tuple[int, int] = (0, 0)
    groups: int = 1
    group_id: int = 0
    batch_normalize: bool = False
    activation: str = "linear"
    mask: tuple[int, ...] = ()
    anchors: tuple[tuple[float, float], ...] = ()
    classes: int = 0
    scale_x_y: float = 1.0
    new_coords: bool = False

    def param_count(self, in_channels: int) -> int:
        """Floats this layer takes from the .weights file."""
        if self.kind != "convolutional":
            return 0
        per_filter = 4 if self.batch_normalize else 1
        return self.filters * (per_filter + (in_channels // self.groups) * self.size * self.size)


@dataclass(frozen=True)
class Network:
    """The [net] input and the layers, in cfg order."""

    width: int
    height: int
    channels: int
    layers: tuple[Layer, ...]

    def shape_of(self, index: int) -> Shape:
        return (self.channels, self.height, self.width) if index < 0 else self.layers[index].out

    def yolo_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == "yolo"]

    def param_count(self) -> int:
        return sum(layer.param_count(self.shape_of(layer.inputs[0])[0]) for layer in self.layers)


def _check_elements(section: Section, shape: Shape) -> Shape:
    c, h, w = shape
    if h < 1 or w < 1:
        raise ModelImportError(
            f"{section.where()}: its output would be {c}x{h}x{w}: the input is too small for it"
        )
    if c * h * w > MAX_ELEMENTS:
        raise ModelImportError(f"{section.where()}: output {c}x{h}x{w} is larger than {MAX_ELEMENTS} values")
    return shape


def _conv(s: Section, i: int, prev: int, ins: Shape) -> Layer:
    c, h, w = ins
    filters = s.integer("filters", 1, 1, MAX_CHANNELS)
    size = s.integer("size", 1, 1, MAX_KERNEL)
    stride = s.integer("stride", 1, 1, MAX_STRIDE)
    for key in ("stride_x", "stride_y"):
        if s.integer(key, stride, 1, MAX_STRIDE) != stride:
            raise ModelImportError(f"{s.where()}: different strides along x and y are not supported")
    if s.integer("dilation", 1, 1, 64) != 1:
        raise ModelImportError(f"{s.where()}: dilated convolutions are not supported")
    padding = s.integer("padding", 0, 0, MAX_KERNEL)
    if s.integer("pad", 0, 0, 1):
        padding = size // 2
    groups = s.integer("groups", 1, 1, MAX_CHANNELS)
    if c % groups or filters % groups:
        raise ModelImportError(
            f"{s.where()}: groups={groups} does not divide {c} input channels and {filters} filters"
        )
    activation = s.text("activation", "logistic").lower()
    if activation not in ACTIVATIONS:
        raise ModelImportError(
            f"{s.where()}: activation={activation[:20]} is not one of {', '.join(ACTIVATIONS)}"
        )
    out = (filters, (h + 2 * padding - size) // stride + 1, (w + 2 * padding - size) // stride + 1)
    return Layer(
        i, s.kind, (prev,), _check_elements(s, out), filters=filters, size=size, stride=stride,
        pad=(padding, padding), groups=groups, batch_normalize=bool(s.integer("batch_normalize", 0, 0, 1)),
        activation=activation,
    )  # fmt: skip


def _maxpool(s: Section, i: int, prev: int, ins: Shape) -> Layer:
    c, h, w = ins
    stride = s.integer("stride", 1, 1, MAX_STRIDE)
    size = s.integer("size", stride, 1, MAX_POOL)
    padding = s.integer("padding", size - 1, 0, MAX_POOL)
    out = (c, (h + padding - size) // stride + 1, (w + padding - size) // stride + 1)
    _check_elements(s, out)
    begin = padding // 2
    ends = [(o - 1) * stride + size - n - begin for o, n in ((out[1], h), (out[2], w))]
    if min(ends) < 0 or max(ends) != min(ends):
        raise ModelImportError(f"{s.where()}: this combination of size, stride and padding is not supported")
    return Layer(i, s.kind, (prev,), out, size=size, stride=stride, pad=(begin, ends[0]))


def _references(s: Section, i: int, values: list[int]) -> tuple[int, ...]:
    refs = []
    for v in values:
        ref = i + v if v < 0 else v
        if not 0 <= ref < i:
            raise ModelImportError(
                f"{s.where()} (layer {i}) refers to layer {v}, which is not an earlier layer (0..{i - 1})"
            )
        refs.append(ref)
    return tuple(refs)


def _route(s: Section, i: int, shapes: list[Shape]) -> Layer:
    refs = _references(s, i, s.integers("layers", 16))
    if not refs:
        raise ModelImportError(f"{s.where()}: a [route] needs layers=")
    groups = s.integer("groups", 1, 1, MAX_CHANNELS)
    group_id = s.integer("group_id", 0, 0, groups - 1)
    sizes = {shapes[r][1:] for r in refs}
    if len(sizes) != 1:
        raise ModelImportError(f"{s.where()}: the routed layers {list(refs)} differ in height and width")
    if any(shapes[r][0] % groups for r in refs):
        raise ModelImportError(f"{s.where()}: groups={groups} does not divide the routed layers' channels")
    h, w = sizes.pop()
    out = (sum(shapes[r][0] // groups for r in refs), h, w)
    return Layer(i, s.kind, refs, _check_elements(s, out), groups=groups, group_id=group_id)


def _shortcut(s: Section, i: int, prev: int, shapes: list[Shape]) -> Layer:
    refs = _references(s, i, s.integers("from", 1))
    if len(refs) != 1:
        raise ModelImportError(f"{s.where()}: a [shortcut] needs from= (one layer)")
    activation = s.text("activation", "linear").lower()
    if activation != "linear":
        raise ModelImportError(f"{s.where()}: only activation=linear is supported on [shortcut]")
    if shapes[refs[0]] != shapes[prev]:
        raise ModelImportError(
            f"{s.where()}: adds layer {refs[0]} of shape {shapes[refs[0]]} "
            f"to layer {prev} of shape {shapes[prev]}"
        )
    return Layer(i, s.kind, (prev, refs[0]), shapes[prev])


def _upsample(s: Section, i: int, prev: int, ins: Shape) -> Layer:
    stride = s.integer("stride", 2, 1, MAX_STRIDE)
    if s.number("scale", 1.0, 0.0, 1e6) != 1.0:
        raise ModelImportError(f"{s.where()}: scale other than 1 is not supported")
    c, h, w = ins
    return Layer(i, s.kind, (prev,), _check_elements(s, (c, h * stride, w * stride)), stride=stride)


def _yolo(s: Section, i: int, prev: int, ins: Shape) -> Layer:
    classes = s.integer("classes", 20, 1, 100_000)
    num = s.integer("num", 1, 1, 1000)
    values = s.numbers("anchors", 2 * num)
    if len(values) != 2 * num:
        raise ModelImportError(f"{s.where()}: num={num} but {len(values)} anchor values (want {2 * num})")
    if any(not 0 < v < 1e5 for v in values):
        raise ModelImportError(f"{s.where()}: anchors must be positive sizes in input pixels")
    mask = tuple(s.integers("mask", num) or range(num))
    if any(not 0 <= m < num for m in mask):
        raise ModelImportError(f"{s.where()}: mask {list(mask)} refers to anchors outside 0..{num - 1}")
    if ins[0] != len(mask) * (5 + classes):
        raise ModelImportError(
            f"{s.where()}: the layer before it has {ins[0]} channels, "
            f"not {len(mask)} anchors x (5 + {classes} classes)"
            f" = {len(mask) * (5 + classes)}"
        )
    anchors = tuple((values[2 * m], values[2 * m + 1]) for m in mask)
    return Layer(
        i, s.kind, (prev,), ins, mask=mask, anchors=anchors, classes=classes,
        scale_x_y=s.number("scale_x_y", 1.0, 0.5, 4.0), new_coords=bool(s.integer("new_coords", 0, 0, 1)),
    )  # fmt: skip


def build_network(sections: list[Section]) -> Network:
    """The layers of a parsed cfg, with shapes, checked against the limits above.

    Raises:
        ModelImportError: an unsupported layer or option, a reference that lies, a size out of range.
    """
    net = sections[0]
    width, height = net.integer("width", 416, 1, MAX_SIDE), net.integer("height", 416, 1, MAX_SIDE)
    channels = net.integer("channels", 3, 1, 3)
    if channels != 3:
        raise ModelImportError(
            f"{net.where()}: channels={channels}: edgeloop imports RGB models (channels=3)"
        )
    shapes: list[Shape] = []
    layers: list[Layer] = []
    for i, s in enumerate(sections[1:]):
        if s.kind not in SUPPORTED:
            raise ModelImportError(
                f"{s.where()}: layer type [{s.kind[:30]}] is not supported "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        for key in UNSUPPORTED_OPTIONS.get(s.kind, ()):
            if s.options.get(key, "0") not in ("0", "none"):
                raise ModelImportError(f"{s.where()}: option {key} is not supported")
        prev = i - 1
        ins = (channels, height, width) if prev < 0 else shapes[prev]
        if s.kind == "convolutional":
            layer = _conv(s, i, prev, ins)
        elif s.kind == "maxpool":
            layer = _maxpool(s, i, prev, ins)
        elif s.kind == "route":
            layer = _route(s, i, shapes)
        elif s.kind == "shortcut":
            if prev < 0:
                raise ModelImportError(f"{s.where()}: a [shortcut] cannot be the first layer")
            layer = _shortcut(s, i, prev, shapes)
        elif s.kind == "upsample":
            layer = _upsample(s, i, prev, ins)
        else:
            if prev < 0:
                raise ModelImportError(f"{s.where()}: a [yolo] layer cannot be the first layer")
            layer = _yolo(s, i, prev, ins)
        read = [r for r in layer.inputs if r >= 0 and layers[r].kind == "yolo"]
        if read:  # Darknet passes on a [yolo] layer's activated output; the ONNX holds its raw map
            raise ModelImportError(
                f"{s.where()} (layer {i}) reads the output of the [yolo] layer {read[0]}, which edgeloop "
                "does not support: a [yolo] layer's output can only be a model output"
            )
        layers.append(layer)
        shapes.append(layer.out)
    network = Network(width, height, channels, tuple(layers))
    if not network.yolo_layers():
        raise ModelImportError("the cfg has no [yolo] layer: edgeloop imports Darknet YOLO detectors")
    if len({(y.classes) for y in network.yolo_layers()}) != 1:
        raise ModelImportError("the [yolo] layers disagree on classes=")
    params = network.param_count()
    if params > MAX_PARAMS:
        raise ModelImportError(
            f"the cfg describes {params} weights, more than the {MAX_PARAMS} edgeloop accepts"
        )
    return network
