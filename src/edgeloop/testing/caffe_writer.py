"""Writing Caffe files from Python: protocol-buffer text (``.prototxt``) and binary
(``.caffemodel``) encoders of edgeloop's own, and ``CaffeNet``, a network being built
layer by layer with its weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.convert.caffe.wire import bytes_field, packed_ints


class Enum(str):
    """A text-format enum value (written bare, not quoted)."""


Fields = list[tuple[str, Any]]


def to_text(fields: Fields, indent: int = 0) -> str:
    """Render (name, value) pairs as protocol-buffer text; a list value is a nested message."""
    pad = "  " * indent
    lines = []
    for name, value in fields:
        if isinstance(value, list):
            lines.append(f"{pad}{name} {{\n{to_text(value, indent + 1)}{pad}}}\n")
        elif isinstance(value, Enum):
            lines.append(f"{pad}{name}: {value}\n")
        elif isinstance(value, str):
            lines.append(f'{pad}{name}: "{value}"\n')
        elif isinstance(value, bool):
            lines.append(f"{pad}{name}: {'true' if value else 'false'}\n")
        else:
            lines.append(f"{pad}{name}: {value}\n")
    return "".join(lines)


def blob_bytes(array: npt.NDArray[Any], shape: tuple[int, ...] | None = None) -> bytes:
    """A BlobProto: shape (field 7, packed dims) and packed float data (field 5)."""
    dims = list(array.shape if shape is None else shape)
    return bytes_field(7, packed_ints(1, dims)) + bytes_field(5, np.asarray(array, "<f4").tobytes())


def layer_bytes(name: str, kind: str, blobs: list[bytes]) -> bytes:
    """A LayerParameter with name (1), type (2) and blobs (7)."""
    return bytes_field(1, name) + bytes_field(2, kind) + b"".join(bytes_field(7, b) for b in blobs)


@dataclass
class CaffeNet:
    """A network being written: its text layers and its weights (layer name -> blobs)."""

    name: str
    input_hw: tuple[int, int]
    rng: np.random.Generator
    layers: list[Fields] = field(default_factory=list)
    weights: dict[str, list[npt.NDArray[np.float32]]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    merged: bool = False

    def add(self, name: str, kind: str, bottoms: list[str], tops: list[str], *params: tuple[str, Any]) -> str:
        fields: Fields = [("name", name), ("type", kind)]
        fields += [("bottom", b) for b in bottoms] + [("top", t) for t in tops]
        self.layers.append(fields + list(params))
        self.kinds[name] = kind
        return tops[0]

    def conv(self, name: str, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
             pad: int | None = None, bias: bool = False, gain: float = 1.0) -> str:  # fmt: skip
        pad = k // 2 if pad is None else pad
        bias = bias or self.merged
        param: Fields = [("num_output", cout), ("bias_term", bias), ("pad", pad), ("kernel_size", k)]
        if stride != 1:
            param.append(("stride", stride))
        if group != 1:
            param.append(("group", group))
        training: list[tuple[str, Any]] = []
        if self.merged:  # what a deploy file converted from a training file still carries
            param += [
                ("weight_filler", [("type", "msra")]),
                ("bias_filler", [("type", "constant"), ("value", 0.0)]),
            ]
            param += [("engine", Enum("CAFFE"))] if group != 1 else []
            training = [("param", [("lr_mult", 1.0), ("decay_mult", 1.0)]), ("param", [("lr_mult", 2.0)])]
        fan_in = cin // group * k * k
        w = self.rng.normal(0, gain * np.sqrt(2.0 / fan_in), (cout, cin // group, k, k)).astype(np.float32)
        self.weights[name] = [w] + ([self.rng.normal(0, 0.1, cout).astype(np.float32)] if bias else [])
        return self.add(name, "Convolution", [x], [name], *training, ("convolution_param", param))

    def bn_scale_relu(self, name: str, c: int, relu: bool = True) -> str:
        if self.merged:  # BatchNorm and Scale folded into the convolution, as in a merged deploy file
            return self.add(f"{name}/relu", "ReLU", [name], [name]) if relu else name
        factor = 0.5  # stored statistics are divided by the third blob, as Caffe does
        mean = self.rng.normal(0, 0.2, c).astype(np.float32)
        var = self.rng.uniform(0.6, 1.6, c).astype(np.float32)
        self.weights[f"{name}/bn"] = [mean * factor, var * factor, np.array([factor], np.float32)]
        self.add(f"{name}/bn", "BatchNorm", [name], [name], ("batch_norm_param", [("eps", 1e-5)]))
        gamma = self.rng.uniform(0.7, 1.1, c).astype(np.float32)
        beta = self.rng.normal(0.05, 0.15, c).astype(np.float32)
        self.weights[f"{name}/scale"] = [gamma, beta]
        top = self.add(f"{name}/scale", "Scale", [name], [name], ("scale_param", [("bias_term", True)]))
        if not relu:
            return top
        return self.add(f"{name}/relu", "ReLU", [name], [name])

    def prototxt(self) -> str:
        h, w = self.input_hw
        shape: Fields = [("dim", 1), ("dim", 3), ("dim", h), ("dim", w)]
        head: Fields = [("name", self.name), ("input", "data"), ("input_shape", shape)]
        return to_text(head) + "".join(to_text([("layer", fields)]) for fields in self.layers)

    def caffemodel(self) -> bytes:
        body = bytes_field(1, self.name)
        for fields in self.layers:
            name = str(fields[0][1])
            if name in self.weights:
                blobs = [blob_bytes(b) for b in self.weights[name]]
                body += bytes_field(100, layer_bytes(name, self.kinds[name], blobs))
        return body

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        prototxt, weights = folder / f"{stem}.prototxt", folder / f"{stem}.caffemodel"
        prototxt.write_text(self.prototxt(), encoding="utf-8")
        weights.write_bytes(self.caffemodel())
        return prototxt, weights
