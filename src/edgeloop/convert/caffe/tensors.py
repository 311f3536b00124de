"""Caffe layers that reshape, join or normalise tensors: InnerProduct, Softmax, Concat,
Flatten, Permute, Reshape, Eltwise."""

from __future__ import annotations

import math

import numpy as np

from edgeloop.convert.caffe.graph import Graph, Shape
from edgeloop.convert.caffe.layers import Context, _check_size, _one, _read
from edgeloop.convert.caffe.net import Layer, NetError


def _axis(axis: int, rank: int, layer: Layer) -> int:
    if not -rank <= axis < rank:
        raise NetError(f"layer '{layer.name}' ({layer.type}): axis {axis} is outside a {rank}-D input")
    return axis % rank


def _reshape(g: Graph, x: str, shape: Shape, name: str) -> str:
    if g.shapes[x] == shape:
        return x
    target = g.const(f"{name}.shape", np.array(shape, np.int64))
    return g.node("Reshape", [x, target], name, shape)


def inner_product(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    p = layer.params.message("inner_product_param")
    shape = g.shapes[x]
    axis = _axis(p.integer("axis", 1), len(shape), layer)
    if axis != 1 or p.flag("transpose", False):
        raise NetError(f"InnerProduct '{layer.name}': only axis 1 without transpose is supported")
    k, n = math.prod(shape[1:]), p.integer("num_output", 0)
    if n <= 0:
        raise NetError(f"InnerProduct '{layer.name}' has no num_output")
    bias = p.flag("bias_term", True)
    blobs = _read(ctx, layer, [(n, k), *([(n,)] if bias else [])])
    flat = _reshape(g, x, (shape[0], k), f"{layer.name}_flat")
    inputs = [flat, g.const(f"{layer.name}.weight", blobs[0])]
    if bias:
        inputs.append(g.const(f"{layer.name}.bias", blobs[1]))
    return [g.node("Gemm", inputs, layer.tops[0], _check_size(layer, (shape[0], n)), transB=1)]


def softmax(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    axis = _axis(layer.params.message("softmax_param").integer("axis", 1), len(g.shapes[x]), layer)
    return [g.node("Softmax", [x], layer.tops[0], g.shapes[x], axis=axis)]


def concat(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g = ctx.graph
    if not ins:
        raise NetError(f"Concat '{layer.name}' has no inputs")
    p = layer.params.message("concat_param")
    first = g.shapes[ins[0]]
    axis = _axis(p.integer("axis", p.integer("concat_dim", 1)), len(first), layer)
    for x in ins[1:]:
        other = g.shapes[x]
        if len(other) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(first, other, strict=True)) if i != axis
        ):
            raise NetError(
                f"Concat '{layer.name}': input shapes {list(first)} and {list(other)} do not fit axis {axis}"
            )
    shape = list(first)
    shape[axis] = sum(g.shapes[x][axis] for x in ins)
    return [g.node("Concat", ins, layer.tops[0], tuple(shape), axis=axis)]


def flatten(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    p = layer.params.message("flatten_param")
    start = _axis(p.integer("axis", 1), len(shape), layer)
    end = _axis(p.integer("end_axis", -1), len(shape), layer)
    if end < start:
        raise NetError(f"Flatten '{layer.name}': end_axis before axis")
    out = (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    return [_reshape_named(g, x, out, layer)]


def _reshape_named(g: Graph, x: str, shape: Shape, layer: Layer) -> str:
    target = g.const(f"{layer.name}.shape", np.array(shape, np.int64))
    return g.node("Reshape", [x, target], layer.tops[0], shape)


def permute(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    order = [int(v) for v in layer.params.message("permute_param").numbers("order")]
    for axis in range(len(shape)):  # Caffe completes a partial order with the axes left, in order
        if axis not in order:
            order.append(axis)
    if sorted(order) != list(range(len(shape))):
        raise NetError(f"Permute '{layer.name}': order {order} is not a permutation of {len(shape)} axes")
    return [g.node("Transpose", [x], layer.tops[0], tuple(shape[i] for i in order), perm=order)]


def reshape(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g, x = ctx.graph, _one(ins, layer)
    shape = g.shapes[x]
    p = layer.params.message("reshape_param")
    dims = [int(v) for v in p.message("shape").numbers("dim")]
    start = p.integer("axis", 0)
    start = start if start >= 0 else len(shape) + 1 + start
    count = p.integer("num_axes", -1)
    stop = len(shape) if count == -1 else start + count
    if not 0 <= start <= stop <= len(shape):
        raise NetError(f"Reshape '{layer.name}': axis/num_axes do not fit a {len(shape)}-D input")
    middle: list[int] = []
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= len(shape):
                raise NetError(f"Reshape '{layer.name}': dim 0 copies an axis the input does not have")
            middle.append(shape[start + i])
        else:
            middle.append(d)
    known = math.prod(shape[:start]) * math.prod(shape[stop:]) * math.prod(d for d in middle if d != -1)
    total = math.prod(shape)
    if middle.count(-1) > 1 or any(d < -1 for d in middle) or known <= 0 or total % known:
        raise NetError(f"Reshape '{layer.name}': shape {dims} does not fit an input of shape {list(shape)}")
    middle = [total // known if d == -1 else d for d in middle]
    out = (*shape[:start], *middle, *shape[stop:])
    if math.prod(out) != total:
        raise NetError(f"Reshape '{layer.name}': shape {dims} does not fit an input of shape {list(shape)}")
    return [_reshape_named(g, x, out, layer)]


def eltwise(ctx: Context, layer: Layer, ins: list[str]) -> list[str]:
    g = ctx.graph
    p = layer.params.message("eltwise_param")
    op = p.text("operation", "SUM")
    if len(ins) < 2 or any(g.shapes[x] != g.shapes[ins[0]] for x in ins):
        raise NetError(f"Eltwise '{layer.name}' needs two or more inputs of one shape")
    shape = g.shapes[ins[0]]
    coeffs = p.numbers("coeff")
    if op == "SUM" and coeffs:
        if len(coeffs) != len(ins):
            raise NetError(f"Eltwise '{layer.name}': {len(coeffs)} coefficients for {len(ins)} inputs")
        ins = [
            x
            if c == 1
            else g.node(
                "Mul", [x, g.const(f"{layer.name}.coeff", np.array(c, np.float32))], f"{layer.name}_c", shape
            )
            for x, c in zip(ins, coeffs, strict=True)
        ]
    onnx_op = {"SUM": "Sum", "PROD": "Mul", "MAX": "Max"}.get(op)
    if onnx_op is None:
        raise NetError(f"Eltwise '{layer.name}': operation {op} is not supported (SUM, PROD, MAX)")
    out = ins[0]
    if onnx_op == "Mul":
        for x in ins[1:]:
            out = g.node("Mul", [out, x], layer.tops[0], shape)
        return [out]
    return [g.node(onnx_op, ins, layer.tops[0], shape)]
