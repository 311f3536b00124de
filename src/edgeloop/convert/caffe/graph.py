"""A small ONNX graph builder that writes the ModelProto with our own protobuf writer.

Only what the Caffe converter emits: float32 initializers, int/float/ints/floats
attributes, one static-shaped input, named outputs. Field numbers are those of the
published ``onnx.proto``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.convert.caffe.wire import bytes_field, float_field, int_field, packed_ints

IR_VERSION = 8
OPSET = 17
FLOAT, INT64 = 1, 7
# AttributeProto.type
ATTR_FLOAT, ATTR_INT, ATTR_FLOATS, ATTR_INTS = 1, 2, 6, 7

Shape = tuple[int, ...]
Attr = int | float | list[int] | list[float]


@dataclass
class Graph:
    """Nodes, initializers and tensor shapes, in the order they are added."""

    name: str
    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    _used: set[str] = field(default_factory=set)

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, derived from ``base``."""
        name, i = base, 1
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def add_input(self, name: str, shape: Shape) -> str:
        self._used.add(name)
        self.inputs.append(name)
        self.shapes[name] = shape
        return name

    def const(self, base: str, array: npt.NDArray[Any]) -> str:
        """An initializer (float32, or int64 for shapes)."""
        name = self.fresh(base)
        data = np.ascontiguousarray(array)
        kind = INT64 if data.dtype.kind in "iu" else FLOAT
        raw = data.astype("<i8" if kind == INT64 else "<f4").tobytes()
        body = b"".join(int_field(1, d) for d in data.shape) + int_field(2, kind) + bytes_field(8, name)
        self.initializers.append(body + bytes_field(9, raw))
        return name

    def node(self, op: str, inputs: list[str], base: str, shape: Shape, **attrs: Attr) -> str:
        """Add one node with one output named after ``base``; record its shape."""
        out = self.fresh(base)
        body = b"".join(bytes_field(1, i) for i in inputs) + bytes_field(2, out)
        body += bytes_field(3, out) + bytes_field(4, op)
        for key, value in attrs.items():
            body += bytes_field(5, _attribute(key, value))
        self.nodes.append(body)
        self.shapes[out] = shape
        return out

    def serialize(self) -> bytes:
        graph = b"".join(bytes_field(1, n) for n in self.nodes) + bytes_field(2, self.name)
        graph += b"".join(bytes_field(5, t) for t in self.initializers)
        graph += b"".join(bytes_field(11, _value_info(n, self.shapes[n])) for n in self.inputs)
        graph += b"".join(bytes_field(12, _value_info(n, self.shapes[n])) for n in self.outputs)
        opset = bytes_field(1, "") + int_field(2, OPSET)
        return (
            int_field(1, IR_VERSION)
            + bytes_field(2, "edgeloop-caffe")
            + bytes_field(7, graph)
            + bytes_field(8, opset)
        )


def _attribute(name: str, value: Attr) -> bytes:
    body = bytes_field(1, name)
    if isinstance(value, bool | int):
        return body + int_field(3, int(value)) + int_field(20, ATTR_INT)
    if isinstance(value, float):
        return body + float_field(2, value) + int_field(20, ATTR_FLOAT)
    if all(isinstance(v, int) for v in value):
        return body + packed_ints(8, [int(v) for v in value]) + int_field(20, ATTR_INTS)
    floats = np.asarray(value, "<f4").tobytes()
    return body + bytes_field(7, floats) + int_field(20, ATTR_FLOATS)


def _value_info(name: str, shape: Shape) -> bytes:
    dims = b"".join(bytes_field(1, int_field(1, d)) for d in shape)
    tensor = int_field(1, FLOAT) + bytes_field(2, dims)
    return bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor))
