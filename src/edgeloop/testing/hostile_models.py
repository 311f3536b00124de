"""Crafted model files, per source format, that ``edgeloop import`` must refuse cleanly.

``HOSTILE`` maps a format to where its makers live ("module:ATTR", imported on first use), so
adding a format is one line. ``ATTR`` is a list of ``(kind, maker)``; ``maker(folder)`` writes one
crafted file (or a few) into the empty ``folder`` and returns the ``edgeloop import`` arguments
for it, without ``--out`` (the runner adds that). ``benchmarks/hostile_imports.py`` runs them all
through ``hostile_imports.run_import``; each format's tests run a few.

Nothing here imports torch or onnx: the files are written byte by byte.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import random
import struct
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

Maker = Callable[[Path], list[str]]
Makers = list[tuple[str, Maker]]

HOSTILE: dict[str, str] = {
    "onnx": "edgeloop.testing.hostile_models:ONNX",
    "pytorch": "edgeloop.testing.hostile_models:PYTORCH",
    "pytorch-real": "tests.convert.torch_models:HOSTILE",  # made from real torch exports: needs torch
    "darknet": "tests.convert.test_darknet_hostile:MAKERS",
    "tflite": "tests.convert.test_tf_hostile:TFLITE_MAKERS",  # the .tflite is made with TensorFlow
}

MARKER = "unpickled-marker"
"""The folder a crafted pickle creates next to itself if anything ever unpickles it."""


def makers(fmt: str) -> Makers:
    """The crafted-file makers registered for ``fmt`` (KeyError naming the formats if unknown)."""
    if fmt not in HOSTILE:
        raise KeyError(f"no crafted files for '{fmt}': choose one of {', '.join(HOSTILE)}")
    module, _, attr = HOSTILE[fmt].partition(":")
    found: Makers = getattr(importlib.import_module(module), attr)
    return found


class _Marker:
    """Unpickling this calls ``os.makedirs(path)``: proof that something unpickled the file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.makedirs, (self.path,))


def pytorch_pickle_with_marker(folder: Path, zipped: bool = True) -> Path:
    """A ``.pt`` laid out like ``torch.save`` (zip) or its legacy form (a bare pickle), whose
    pickle creates ``folder / MARKER`` when unpickled."""
    payload = pickle.dumps({"model": _Marker(folder / MARKER)}, protocol=2)
    path = folder / ("model.pt" if zipped else "legacy.pt")
    if not zipped:
        path.write_bytes(payload)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model/data.pkl", payload)
        z.writestr("model/byteorder", "little")
        z.writestr("model/data/0", b"\0" * 64)
        z.writestr("model/version", "3\n")
    return path


def _torchscript_zip(path: Path, code: str = "def forward(self, x):\n  return x\n") -> Path:
    """An archive in TorchScript's layout (not loadable: the pickles are placeholders)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("m/data.pkl", pickle.dumps({}, protocol=2))
        z.writestr("m/code/__torch__.py", code)
        z.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
        z.writestr("m/data/0", os.urandom(4096))
        z.writestr("m/version", "3\n")
    return path


def _pt2_zip(
    path: Path,
    program: str | None = None,
    weights: dict[str, object] | None = None,
    sample_inputs: bytes = b"",
    extra: dict[str, bytes] | None = None,
) -> Path:
    """An archive in torch.export.save's layout with the given program JSON and weights config."""
    node = {"target": "torch.ops.aten.relu.default", "inputs": [], "outputs": []}
    program = program if program is not None else json.dumps({"graph_module": {"graph": {"nodes": [node]}}})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("e/archive_format", "pt2")
        z.writestr("e/archive_version", "0")
        z.writestr("e/models/model.json", program)
        z.writestr("e/data/weights/model_weights_config.json", json.dumps({"config": weights or {}}))
        z.writestr("e/data/constants/model_constants_config.json", json.dumps({"config": {}}))
        z.writestr("e/data/sample_inputs/model.pt", sample_inputs)
        for name, data in (extra or {}).items():
            z.writestr(f"e/{name}", data)
    return path


def _truncated(make: Callable[[Path], Path], fraction: float) -> Maker:
    def maker(folder: Path) -> list[str]:
        path = make(folder)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return [str(path), *_FLAGS]

    return maker


def _garbage(name: str, seed: int, size: int = 4096) -> Maker:
    def maker(folder: Path) -> list[str]:
        path = folder / name
        path.write_bytes(random.Random(seed).randbytes(size))
        return [str(path), *_FLAGS]

    return maker


_FLAGS = ["--names", "a,b,c", "--imgsz", "64"]


def _gigantic_member(folder: Path) -> list[str]:
    """A zip whose central directory says one member unpacks to ~4 GiB (it holds 4 KiB)."""
    path = _torchscript_zip(folder / "huge.pt")
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")  # the first central-directory entry: its uncompressed size field
    struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    return [str(path), *_FLAGS]


def _many_members(folder: Path) -> list[str]:
    path = folder / "many.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(20_001):
            z.writestr(f"m/data/{i}", b"")
    return [str(path), *_FLAGS]


def _in(name: str, make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    return lambda folder: make(folder / name)


def _arg(make: Callable[[Path], Path]) -> Maker:
    return lambda folder: [str(make(folder)), *_FLAGS]


def _torchscript_saving(path: Path) -> Path:
    return _torchscript_zip(path, 'def forward(self, x):\n  torch.save(x, "/tmp/x")\n  return x\n')


def _pt2_calling_python(path: Path) -> Path:
    return _pt2_zip(path, json.dumps({"nodes": [{"target": "torch.os.system", "inputs": []}]}))


def _pt2_python_shape(path: Path) -> Path:
    return _pt2_zip(path, json.dumps({"sym": {"expr_str": "__import__('os').getcwd()"}}))


def _pt2_live_sample_inputs(path: Path) -> Path:
    """Sample inputs in torch.save's zip layout whose pickle creates MARKER next to the file."""
    inner = pytorch_pickle_with_marker(path.parent)
    data = inner.read_bytes()
    inner.unlink()
    return _pt2_zip(path, sample_inputs=data)


def _pt2_compiled_library(path: Path) -> Path:
    return _pt2_zip(path, extra={"data/aotinductor/model/model.so": b"\x7fELF" + bytes(256)})


def _pt2_pickled_weights(path: Path) -> Path:
    return _pt2_zip(path, weights={"w": {"path_name": "weight_0", "use_pickle": True}})


PYTORCH: Makers = [
    ("pickled model (torch.save layout, live payload)", _arg(pytorch_pickle_with_marker)),
    ("legacy pickle (not a zip, live payload)", _arg(lambda f: pytorch_pickle_with_marker(f, zipped=False))),
    *[
        (f"TorchScript archive truncated at {int(q * 100)}%", _truncated(_in("cut.pt", _torchscript_zip), q))
        for q in (0.1, 0.5, 0.9, 0.99)
    ],
    ("central directory claims a ~4 GiB member", _gigantic_member),
    ("20001 archive members", _many_members),
    *[(f"garbage bytes (seed {s})", _garbage("garbage.pt", s)) for s in range(3)],
    ("TorchScript layout, placeholder pickles", _arg(_in("layout.pt", _torchscript_zip))),
    ("TorchScript code calling torch.save", _arg(_in("save.pt", _torchscript_saving))),
    (".pt2 with corrupt JSON", _arg(_in("bad.pt2", lambda p: _pt2_zip(p, program='{"graph_module": [')))),
    (".pt2 calling a Python function", _arg(_in("call.pt2", _pt2_calling_python))),
    (".pt2 with a Python expression as a shape", _arg(_in("sym.pt2", _pt2_python_shape))),
    (".pt2 with pickled weights", _arg(_in("pickled.pt2", _pt2_pickled_weights))),
    (".pt2 whose sample inputs are empty", _arg(_in("inputs.pt2", _pt2_zip))),
    (".pt2 whose sample inputs pickle a live payload", _arg(_in("live.pt2", _pt2_live_sample_inputs))),
    (".pt2 carrying a compiled AOTInductor library", _arg(_in("aoti.pt2", _pt2_compiled_library))),
]


def _onnx_bytes(initializer_dims: tuple[int, ...] = (4,), raw: bytes = b"\0" * 16) -> bytes:
    """A one-node ONNX model (Identity of an initializer) written with a hand-rolled protobuf encoder."""

    def key(field: int, wire: int) -> bytes:
        return _varint(field << 3 | wire)

    def msg(field: int, body: bytes) -> bytes:
        return key(field, 2) + _varint(len(body)) + body

    def text(field: int, value: str) -> bytes:
        return msg(field, value.encode())

    dims = b"".join(key(1, 0) + _varint(d) for d in initializer_dims)
    tensor = dims + key(2, 0) + _varint(1) + text(8, "w") + msg(9, raw)  # FLOAT, name, raw_data
    node = text(1, "w") + text(2, "y") + text(4, "Identity")
    shape = msg(2, msg(1, key(1, 0) + _varint(4)))  # TypeProto.tensor_type.shape: [4]
    value_info = text(1, "y") + msg(2, msg(1, key(1, 0) + _varint(1) + shape))
    graph = msg(1, node) + text(2, "g") + msg(5, tensor) + msg(12, value_info)
    opset = msg(8, key(2, 0) + _varint(17))
    return key(1, 0) + _varint(8) + opset + msg(7, graph)  # ir_version 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _onnx_file(name: str, data: Callable[[], bytes]) -> Maker:
    def maker(folder: Path) -> list[str]:
        path = folder / name
        path.write_bytes(data())
        return [str(path), *_FLAGS]

    return maker


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


ONNX: Makers = [
    *[
        (
            f"ONNX file truncated at {int(q * 100)}%",
            _onnx_file("cut.onnx", partial(_cut, _onnx_bytes(), q)),
        )
        for q in (0.3, 0.6, 0.9)
    ],
    (
        "initializer claiming 2^31 x 2^31 floats",
        _onnx_file("huge.onnx", lambda: _onnx_bytes((2**31, 2**31))),
    ),
    (
        "initializer claiming 2^40 floats, 16 bytes of data",
        _onnx_file("big.onnx", lambda: _onnx_bytes((2**40,))),
    ),
    *[(f"garbage bytes (seed {s})", _garbage("garbage.onnx", s)) for s in range(3)],
]
