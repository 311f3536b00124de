"""ONNX -> ncnn (``model.ncnn.param`` + ``model.ncnn.bin``) with the ``pnnx`` converter.

pnnx reads ONNX directly (no PyTorch model needed); edgeloop runs its command-line
tool in a scratch folder and keeps only the two ncnn files, plus ``model.ncnn.json``:
the ONNX input and output names and shapes next to the blob names pnnx gives them
(``in0``, ``out0``, ...), so the ncnn backend reports the ONNX names and restores
the ONNX output shapes (ncnn has no batch axis).

Two things are checked here rather than discovered at inference time:

- pnnx writes an operator it cannot map to an ncnn layer under its PyTorch or ONNX
  name (``torch.gt``, ``Tensor.to``, ``ReduceMax``): ncnn would refuse to load such a
  model, so the conversion is refused, naming those operators.
- pnnx (20250530 and later) drops the axis of a ``Reduce*`` node whose ``axes`` is an
  input holding one value (every ReduceSum at opset 13+), and ncnn then reduces over
  nothing. The converted copy of the model lists that axis twice (``[a, a]``), which
  ONNX Runtime and pnnx both read as the one axis ``a``; the bundle's ONNX is not touched.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeloop.backends.ncnn import NcnnIoMap, NcnnTensor
from edgeloop.errors import BackendError

PARAM, BIN, IO_MAP = "model.ncnn.param", "model.ncnn.bin", "model.ncnn.json"
INSTALL_HINT = "pip install 'edgeloop[ncnn-convert]'"
_LOG_TAIL_LINES = 15


def pnnx_command() -> list[str]:
    """The pnnx converter to run: the binary inside the ``pnnx`` package, else ``pnnx`` on PATH.

    Raises:
        BackendError: pnnx is not installed.
    """
    try:
        spec = importlib.util.find_spec("pnnx")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / ("pnnx.exe" if os.name == "nt" else "pnnx")
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    found = shutil.which("pnnx")
    if found:
        return [found]
    raise BackendError(f"the pnnx converter is not installed (ONNX -> ncnn needs it): {INSTALL_HINT}")


def convert_onnx_to_ncnn(
    onnx_path: str | Path,
    out_dir: str | Path,
    input_shape: Sequence[int] | None = None,
    timeout_s: float = 600,
) -> tuple[Path, Path]:
    """Write ``out_dir/model.ncnn.param`` and ``model.ncnn.bin`` (FP32 weights) from an ONNX model.

    ``model.ncnn.json`` (the ONNX names and shapes of the inputs and outputs) is written
    beside them; the ncnn backend reads it when present. ``input_shape`` (e.g.
    ``(1, 3, 640, 640)``) defaults to the model's own static input shape (a dynamic
    batch axis becomes 1: ncnn runs one image at a time).

    Returns:
        The paths of the ``.param`` and ``.bin`` files.

    Raises:
        BackendError: pnnx or onnx is not installed, the model has a dynamic input size and
            no ``input_shape`` was given, pnnx failed (the tail of its log is in the
            message), or pnnx left operators ncnn cannot run.
    """
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    command = pnnx_command()
    try:
        import onnx
    except ImportError:
        raise BackendError(f"onnx is not installed (ONNX -> ncnn needs it): {INSTALL_HINT}") from None
    try:
        model = onnx.load(str(onnx_path))
    except Exception as exc:  # protobuf's DecodeError, OSError: no useful common type
        raise BackendError(f"{onnx_path.name} is not a readable ONNX model: {exc}") from None
    io_map = _io_map(model, input_shape)
    shapes = ",".join("[" + ",".join(str(d) for d in item.shape) + "]" for item in io_map.inputs)
    with tempfile.TemporaryDirectory(prefix="edgeloop-pnnx-") as tmp:
        work = Path(tmp)
        source = work / "model.onnx"
        _repeat_single_reduce_axes(model)
        onnx.save(model, str(source))
        outputs = {
            "pnnxparam": "model.pnnx.param",
            "pnnxbin": "model.pnnx.bin",
            "pnnxpy": "model_pnnx.py",
            "pnnxonnx": "model.pnnx.onnx",
            "ncnnparam": PARAM,
            "ncnnbin": BIN,
            "ncnnpy": "model_ncnn.py",
        }
        args = [str(source), f"inputshape={shapes}", "fp16=0", "device=cpu"]
        args += [f"{key}={value}" for key, value in outputs.items()]
        log_path = work / "pnnx.log"
        try:
            with log_path.open("w") as log:
                result = subprocess.run(
                    [*command, *args], cwd=work, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s
                )
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"pnnx did not finish converting {onnx_path.name} within {timeout_s:.0f} s"
            ) from None
        param, weights = work / PARAM, work / BIN
        if result.returncode != 0 or not param.is_file() or not weights.is_file():
            raise BackendError(
                f"pnnx could not convert {onnx_path.name} to ncnn (exit code {result.returncode}); "
                f"the end of its log:\n{_tail(log_path)}"
            )
        _check_layers(param.read_text(encoding="utf-8"), onnx_path.name)
        _check_blobs(param.read_text(encoding="utf-8"), io_map, onnx_path.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(param, out_dir / PARAM)
        shutil.copyfile(weights, out_dir / BIN)
    (out_dir / IO_MAP).write_text(io_map.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return out_dir / PARAM, out_dir / BIN


def bundle_input_shape(onnx_path: str | Path, size_hw: Sequence[int], layout: str = "NCHW") -> list[int]:
    """The model's input shape for conversion: its static dimensions, batch 1, and the bundle's
    input size (``size_hw``, in ``layout``) where the model leaves height or width dynamic.

    Raises:
        BackendError: onnx is not installed, or the model has more than one input.
    """
    try:
        import onnx
    except ImportError:
        raise BackendError(f"onnx is not installed (ONNX -> ncnn needs it): {INSTALL_HINT}") from None
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise BackendError(f"ncnn conversion takes a model with one image input; this one has {len(inputs)}")
    h, w = (int(v) for v in size_hw)
    wanted = [1, 3, h, w] if layout == "NCHW" else [1, h, w, 3]
    dims = _dims(inputs[0])
    if len(dims) != 4:
        raise BackendError(f"input '{inputs[0].name}' has {len(dims)} dimensions; an image input has 4")
    return [1] + [d if isinstance(d, int) and d > 0 else wanted[i] for i, d in enumerate(dims) if i > 0]


def _io_map(model: Any, input_shape: Sequence[int] | None) -> NcnnIoMap:
    """ONNX names and static shapes, and the blob names pnnx gives them (in0.., out0..)."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if input_shape is not None and len(inputs) != 1:
        raise BackendError(f"input_shape is for a model with one input; this one has {len(inputs)}")
    entries = []
    for index, value in enumerate(inputs):
        dims = _dims(value)
        if input_shape is not None:
            shape = [int(d) for d in input_shape]
        elif dims and all(isinstance(d, int) for d in dims[1:]):
            shape = [1, *(int(d) for d in dims[1:] if isinstance(d, int))]
        else:
            raise BackendError(
                f"input '{value.name}' has a dynamic size {dims}: pass the input shape to convert to ncnn "
                "(the bundle's input size, e.g. (1, 3, 640, 640))"
            )
        if shape[0] != 1:
            raise BackendError(f"ncnn runs one image at a time: input shape {shape} must have batch 1")
        entries.append(NcnnTensor(name=value.name, blob=f"in{index}", shape=list(shape)))
    outputs = []
    for index, value in enumerate(graph.output):
        shape_out: list[int | None] = [d if isinstance(d, int) else None for d in _dims(value)]
        if shape_out and shape_out[0] is None:  # a dynamic batch axis is 1 here
            shape_out[0] = 1
        outputs.append(NcnnTensor(name=value.name, blob=f"out{index}", shape=shape_out))
    return NcnnIoMap(inputs=entries, outputs=outputs)


def _dims(value: Any) -> list[int | str | None]:
    dims: list[int | str | None] = []
    for d in value.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return dims


def _repeat_single_reduce_axes(model: Any) -> int:
    """Give every ``Reduce*`` node whose constant ``axes`` input holds one axis the list ``[a, a]``.

    Works around pnnx reading a one-value axes tensor as a scalar and then dropping it
    when writing ncnn's Reduction layer (see the module docstring). Returns how many
    nodes were changed.
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    changed = 0
    for node in graph.node:
        if not node.op_type.startswith("Reduce") or len(node.input) < 2 or node.input[1] not in constants:
            continue
        axes = np.asarray(constants[node.input[1]]).reshape(-1)
        if axes.size != 1:
            continue
        name = f"{node.input[1]}__twice"
        if name not in constants:
            twice = np.array([int(axes[0])] * 2, np.int64)
            graph.initializer.append(numpy_helper.from_array(twice, name))
            constants[name] = twice
        node.input[1] = name
        changed += 1
    return changed


def _layers(param_text: str) -> list[list[str]]:
    """The layer lines of an ncnn ``.param`` text: [type, name, n_in, n_out, blobs..., params...]."""
    lines = [line.split() for line in param_text.splitlines() if line.strip()]
    return [fields for fields in lines[2:] if len(fields) >= 4]


def _check_layers(param_text: str, model_name: str) -> None:
    """pnnx leaves operators it cannot map under their PyTorch or ONNX names (``torch.gt``, ``ReduceMax``)."""
    from edgeloop.backends.ncnn import unknown_layer_types

    unmapped = unknown_layer_types({fields[0] for fields in _layers(param_text)})
    if unmapped:
        raise BackendError(
            f"ncnn has no layer for operators of {model_name}: {', '.join(unmapped)} "
            "(pnnx could not convert them); keep this model on ONNX Runtime, or change the model "
            "to avoid these operators (comparisons and casts are common ones)"
        )


def _check_blobs(param_text: str, io_map: NcnnIoMap, model_name: str) -> None:
    blobs = set()
    for fields in _layers(param_text):
        n_in, n_out = int(fields[2]), int(fields[3])
        blobs.update(fields[4 : 4 + n_in + n_out])
    missing = [e.blob for e in [*io_map.inputs, *io_map.outputs] if e.blob not in blobs]
    if missing:
        raise BackendError(
            f"pnnx's ncnn model of {model_name} lacks the blobs {', '.join(missing)} "
            "that stand for the ONNX inputs and outputs; this pnnx version names them differently"
        )


def _tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    tail = "\n".join(lines[-_LOG_TAIL_LINES:])
    return re.sub(r"\x1b\[[0-9;]*m", "", tail) or "(empty log)"  # without pnnx's terminal colours
