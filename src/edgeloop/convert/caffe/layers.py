"""Caffe layers -> ONNX nodes, with Caffe's shape rules (pooling's ceil rounding, among others).

Each converter gets the layer, its input tensor names (shapes in ``graph.shapes``) and
the weights reader, and returns its output tensor names. Blob shapes are derived from
the prototxt and the input shapes before any weight is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeloop.convert.caffe.graph import Graph, Shape
from edgeloop.convert.caffe.net import Layer, NetError
from edgeloop.convert.caffe.text import Message
from edgeloop.convert.caffe.weights import CaffeWeights

MAX_ELEMENTS = 1 << 28
"""Largest tensor (elements) a layer may produce: 1 GiB of float32."""


@dataclass
class Context:
    graph: Graph
    weights: CaffeWeights
    params: int = 0


Converter = Callable[[Context, Layer, list[str]], list[str]]


def _pair(p: Message, name: str, default: int, where: str) -> tuple[int, int]:
    """A (h, w) parameter given as ``name`` (repeated) or ``name_h`` / ``name_w``."""
    if p.has(f"{name}_h") or p.has(f"{name}_w"):
        values = [p.integer(f"{name}_h", default), p.integer(f"{name}_w", default)]
    else:
        given = [int(v) for v in p.numbers(name)] or [default]
        values = [given[0], given[-1]] if len(given) <= 2 else []
    if len(values) != 2 or any(not 0 <= v <= 1 << 16 for v in values):
        raise NetError(f"{where}: {name} {values} is not supported (two values, 0..65536)")
    return values[0], values[1]


def _kernel(p: Message, where: str) -> tuple[int, int]:
    """``kernel_size`` (one or two values) or ``kernel_h`` / ``kernel_w``."""
    if p.has("kernel_h") or p.has("kernel_w"):
        return _pair(p, "kernel", 0, where)
    return _pair(p, "kernel_size", 0, where)


def _check_size(layer: Layer, shape: Shape) -> Shape:
    if any(d <= 0 for d in shape):
        raise NetError(f"layer '{layer.name}' ({layer.type}) would produce an empty output {list(shape)}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise NetError(
            f"layer '{layer.name}' would produce {math.prod(shape)} values (more than {MAX_ELEMENTS})"
        )
    return shape


def _one(ins: list[str], layer: Layer) -> str:
    if len(ins) != 1:
        raise NetError(f"layer '{layer.name}' ({layer.type}) takes one input, got {len(ins)}")
    return ins[0]


def convolution(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    n, c, h, w = _nchw(g, x, layer)
    p = layer.params.message("convolution_param")
    out_c = p.integer("num_output", 0)
    group = p.integer("group", 1)
    kh, kw = _kernel(p, layer.name)
    sh, sw = _pair(p, "stride", 1, layer.name)
    ph, pw = _pair(p, "pad", 0, layer.name)
    dh, dw = _pair(p, "dilation", 1, layer.name)
    if out_c <= 0 or group <= 0 or c % group or out_c % group or min(kh, kw, sh, sw, dh, dw) <= 0:
        raise NetError(
            f"convolution '{layer.name}': num_output {out_c}, group {group}, kernel {kh}x{kw} "
            f"do not fit {c} channels"
        )
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    shape = _check_size(layer, (n, out_c, oh, ow))
    bias = p.flag("bias_term", True)
    expected = [(out_c, c // group, kh, kw), *([(out_c,)] if bias else [])]
    blobs = _read(ctx, layer, expected)
    inputs = [x, g.const(f"{layer.name}.weight", blobs[0])]
    if bias:
        inputs.append(g.const(f"{layer.name}.bias", blobs[1]))
    out = g.node(
        "Conv", inputs, layer.tops[0], shape,
        kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw], dilations=[dh, dw], group=group,
    )  # fmt: skip
    return [out]


def _read(ctx: Context, layer: Layer, expected: list[Shape], optional: int = 0) -> list[np.ndarray]:
    ctx.params += sum(math.prod(s) for s in expected)
    if ctx.params > MAX_ELEMENTS // 2:
        raise NetError(
            f"the network has more than {MAX_ELEMENTS // 2} weights: larger than edgeloop converts"
        )
    return ctx.weights.blobs(layer.name, expected, optional)


def _nchw(g: Graph, x: str, layer: Layer) -> tuple[int, int, int, int]:
    shape = g.shapes[x]
    if len(shape) != 4:
        raise NetError(f"layer '{layer.name}' ({layer.type}) needs a 4-D input, got {list(shape)}")
    return shape[0], shape[1], shape[2], shape[3]


def batch_norm(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    c = g.shapes[x][1]
    eps = layer.params.message("batch_norm_param").number("eps", 1e-5)
    mean, var, factor = _read(ctx, layer, [(c,), (c,), (1,)])
    f = float(factor[0])
    scale = 0.0 if f == 0 else 1.0 / f
    inputs = [
        x,
        g.const(f"{layer.name}.ones", np.ones(c, np.float32)),
        g.const(f"{layer.name}.zeros", np.zeros(c, np.float32)),
        g.const(f"{layer.name}.mean", mean * scale),
        g.const(f"{layer.name}.var", var * scale),
    ]
    return [g.node("BatchNormalization", inputs, layer.tops[0], g.shapes[x], epsilon=float(eps))]


def scale(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    p = layer.params.message("scale_param")
    if p.integer("axis", 1) != 1 or len(shape) < 2:
        raise NetError(f"Scale layer '{layer.name}': only axis 1 on an input of 2+ dimensions is supported")
    c = shape[1]
    bias = p.flag("bias_term", False)
    blobs = _read(ctx, layer, [(c,), *([(c,)] if bias else [])])
    tail = (c,) + (1,) * (len(shape) - 2)
    out = g.node(
        "Mul", [x, g.const(f"{layer.name}.gamma", blobs[0].reshape(tail))], f"{layer.tops[0]}_mul", shape
    )
    if bias:
        out = g.node(
            "Add", [out, g.const(f"{layer.name}.beta", blobs[1].reshape(tail))], layer.tops[0], shape
        )
    return [out]


def relu(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    slope = layer.params.message("relu_param").number("negative_slope", 0.0)
    if slope:
        return [g.node("LeakyRelu", [x], layer.tops[0], g.shapes[x], alpha=float(slope))]
    return [g.node("Relu", [x], layer.tops[0], g.shapes[x])]


def unary(op: str) -> Converter:
    def convert(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
        x = _one(ins, layer)
        return [ctx.graph.node(op, [x], layer.tops[0], ctx.graph.shapes[x])]

    return convert


def identity(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    """Dropout at inference, Split: the input itself under each top's name."""
    x = _one(ins, layer)
    return [x for _ in layer.tops]


def pooling(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    n, c, h, w = _nchw(g, x, layer)
    p = layer.params.message("pooling_param")
    method = p.text("pool", "MAX")
    if method not in ("MAX", "AVE"):
        raise NetError(f"pooling '{layer.name}': pool {method} is not supported (MAX, AVE)")
    if p.flag("global_pooling", False):
        op = "GlobalMaxPool" if method == "MAX" else "GlobalAveragePool"
        return [g.node(op, [x], layer.tops[0], (n, c, 1, 1))]
    kh, kw = _kernel(p, layer.name)
    sh, sw = _pair(p, "stride", 1, layer.name)
    ph, pw = _pair(p, "pad", 0, layer.name)
    if min(kh, kw, sh, sw) <= 0 or ph >= kh or pw >= kw:
        raise NetError(
            f"pooling '{layer.name}': kernel {kh}x{kw}, stride {sh}x{sw}, pad {ph}x{pw} are not valid"
        )
    ceil = p.text("round_mode", "CEIL") != "FLOOR"  # newer Caffe's round_mode; CEIL is Caffe's own
    oh, ow = _pooled(h, kh, sh, ph, ceil), _pooled(w, kw, sw, pw, ceil)
    shape = _check_size(layer, (n, c, oh, ow))
    # Caffe rounds the output size up; explicit end padding reproduces it with floor rounding.
    eh = max(0, (oh - 1) * sh + kh - (h + 2 * ph))
    ew = max(0, (ow - 1) * sw + kw - (w + 2 * pw))
    common = {"kernel_shape": [kh, kw], "strides": [sh, sw]}
    if method == "MAX":
        return [g.node("MaxPool", [x], layer.tops[0], shape, pads=[ph, pw, ph + eh, pw + ew], **common)]
    # Caffe averages over the window clipped to the padded input: the pad counts, the ceil overhang does not.
    if ph or pw:
        pads = g.const(f"{layer.name}.pads", np.array([0, 0, ph, pw, 0, 0, ph, pw], np.int64))
        x = g.node("Pad", [x, pads], f"{layer.name}_pad", (n, c, h + 2 * ph, w + 2 * pw))
    return [
        g.node("AveragePool", [x], layer.tops[0], shape, pads=[0, 0, eh, ew], count_include_pad=0, **common)
    ]


def _pooled(size: int, kernel: int, stride: int, pad: int, ceil: bool = True) -> int:
    if not ceil:
        return (size + 2 * pad - kernel) // stride + 1
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the image or its leading pad
    return out


def normalize(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    """SSD's Normalize (L2 norm over channels, or over everything, then a learned scale)."""
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    c = shape[1]
    p = layer.params.message("norm_param")
    across = p.flag("across_spatial", True)
    shared = p.flag("channel_shared", True)
    eps = p.number("eps", 1e-10)
    (gamma,) = _read(ctx, layer, [(1,) if shared else (c,)])
    axes = list(range(1, len(shape))) if across else [1]
    reduced = tuple(1 if i in axes else d for i, d in enumerate(shape))
    total = g.node("ReduceSumSquare", [x], f"{layer.name}_sumsq", reduced, axes=axes, keepdims=1)
    total = g.node(
        "Add", [total, g.const(f"{layer.name}.eps", np.array(eps, np.float32))], f"{layer.name}_eps", reduced
    )
    norm = g.node("Sqrt", [total], f"{layer.name}_norm", reduced)
    out = g.node("Div", [x, norm], f"{layer.name}_div", shape)
    tail = (1,) * (len(shape) - 1) if shared else (c,) + (1,) * (len(shape) - 2)
    return [g.node("Mul", [out, g.const(f"{layer.name}.scale", gamma.reshape(tail))], layer.tops[0], shape)]


def prelu(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    shared = layer.params.message("prelu_param").flag("channel_shared", False)
    (slope,) = _read(ctx, layer, [(1,) if shared else (shape[1],)])
    tail = (1,) * (len(shape) - 1) if shared else (shape[1],) + (1,) * (len(shape) - 2)
    return [g.node("PRelu", [x, g.const(f"{layer.name}.slope", slope.reshape(tail))], layer.tops[0], shape)]
