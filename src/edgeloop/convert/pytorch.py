"""PyTorch: TorchScript archives and torch.export programs (.pt2) to ONNX; pickles refused.

The file is first inspected without unpickling (``torch_archive.inspect_archive``): plain
``torch.save`` pickles are refused, TorchScript code that touches files and .pt2 programs that
call anything but torch operators are refused. Then:

- TorchScript: ``torch.jit.load(map_location="cpu")``, exported with the TorchScript-based ONNX
  exporter (``dynamo=False``: one self-contained file, no onnxscript). The archive does not say
  its input size: ``--imgsz`` is required (3-channel NCHW input assumed).
- .pt2: ``torch.export.load`` (its sample inputs were first read with ``weights_only=True``),
  and ``ExportedProgram.module()`` exported the same way; the input size is the program's own.

The golden-sample check runs the loaded torch module on the bundle's prepared tensors.
This is the only module of ``edgeloop.convert`` that imports torch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.convert.base import Array, Converted, ConvertOptions, SourceFormat
from edgeloop.convert.torch_archive import TorchArchive, inspect_archive
from edgeloop.convert.torch_inputs import first_line, read_sample_inputs
from edgeloop.errors import ModelImportError
from edgeloop.importer import describe
from edgeloop.postprocess.families import get_family

SUFFIXES = (".pt", ".pth", ".pt2", ".ts", ".torchscript")
OPSET = 17
INPUT_NAME = "images"
TOLERANCE = 1e-4


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelImportError(
            "importing PyTorch models needs torch: pip install 'edgeloop[pytorch]'"
        ) from None
    return torch


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch's warnings and log lines off the user's terminal while it loads and exports."""
    loggers = [logging.getLogger(name) for name in ("torch", "torch.export", "torch.onnx", "torch._export")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _flatten(outputs: Any) -> list[Any]:
    """A model's outputs as a flat list of tensors (tuples and lists flattened in order)."""
    if isinstance(outputs, (tuple, list)):
        return [t for item in outputs for t in _flatten(item)]
    if hasattr(outputs, "detach"):
        return [outputs]
    raise ModelImportError(
        f"the model returns a {type(outputs).__name__}; edgeloop imports models that return tensors "
        "or tuples of tensors"
    )


def _load_torchscript(torch: Any, path: Path, options: ConvertOptions) -> tuple[Any, tuple[int, ...]]:
    if options.imgsz_hw is None:
        raise ModelImportError(
            f"{path.name}: a TorchScript archive does not record its input size: pass --imgsz HEIGHT,WIDTH"
        )
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and others for damaged archives
        raise ModelImportError(f"{path.name}: torch.jit.load could not read it: {first_line(exc)}") from None
    _check_graph(torch, module, path)
    return module.eval(), (1, 3, *options.imgsz_hw)


def _check_graph(torch: Any, module: Any, path: Path) -> None:
    """Refuse TorchScript whose forward (with calls inlined) reads or writes files."""
    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    for node in graph.nodes():
        if node.kind() in ("aten::save", "aten::from_file", "debugprims::load_tensor"):
            raise ModelImportError(f"{path.name}: its TorchScript calls {node.kind()} (file access)")


class _Caught(logging.Handler):
    """Keeps the last exception torch logs (torch.export.load logs why it failed, then raises
    a generic error)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.error: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.error = record.exc_info[1]


def _load_export(
    torch: Any, path: Path, archive: TorchArchive, options: ConvertOptions
) -> tuple[Any, tuple[int, ...]]:
    inputs = read_sample_inputs(torch, path, archive)
    caught = _Caught()
    export_log = logging.getLogger("torch.export")
    level, propagate, handlers = export_log.level, export_log.propagate, export_log.handlers
    export_log.handlers = [caught]  # torch's own handler would print the traceback
    export_log.setLevel(logging.WARNING)
    export_log.propagate = False
    try:
        with path.open("rb") as f:
            program = torch.export.load(f)
    except Exception as exc:
        # torch.export.load logs the real reason as a warning, then raises a generic error
        why = first_line(caught.error or exc)
        raise ModelImportError(f"{path.name}: torch.export.load could not read it: {why}") from None
    finally:
        export_log.handlers = handlers
        export_log.setLevel(level)
        export_log.propagate = propagate
    args = program.example_inputs[0] if program.example_inputs else inputs[0] if inputs else ()
    tensors = [a for a in _flatten(args)] if args else []
    if len(tensors) != 1 or tensors[0].dim() != 4:
        shapes = [list(t.shape) for t in tensors]
        raise ModelImportError(
            f"{path.name}: the program takes inputs {shapes}; edgeloop imports one image input"
        )
    shape = tuple(int(d) for d in tensors[0].shape)
    if options.imgsz_hw is not None and shape[2:] != options.imgsz_hw:
        raise ModelImportError(
            f"{path.name}: the program was exported for input {list(shape)}; --imgsz "
            f"{options.imgsz_hw[0]},{options.imgsz_hw[1]} does not match it (leave --imgsz out)"
        )
    return _trainless(torch, program.module()), (1, *shape[1:])


def _trainless(torch: Any, module: Any) -> Any:
    """``ExportedProgram.module()`` wrapped so the TorchScript-based exporter can trace it:
    the exporter switches the model to eval mode, which the exported module refuses (it is
    fixed in the mode it was exported in)."""

    class Frozen(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, x: Any) -> Any:
            return self.inner(x)

        def train(self, mode: bool = True) -> Any:
            return self

    return Frozen()


def tolerance_for(peak: float) -> float:
    """The check's tolerance for outputs as large as ``peak``: 1e-4, or four float32 steps at
    ``peak`` where that is more (box coordinates of a 640-pixel input are 6.1e-5 apart)."""
    return max(TOLERANCE, 4 * float(np.spacing(np.float32(min(abs(peak), 1e30)))))


def _export_onnx(torch: Any, module: Any, shape: tuple[int, ...], onnx_path: Path) -> float:
    """Write ``module`` as ONNX (TorchScript-based exporter); the largest |output| on an example."""
    example = torch.full(shape, 0.5, dtype=torch.float32)
    with torch.no_grad():
        outputs = _flatten(module(example))
    count = len(outputs)
    peak = max((float(t.detach().abs().max()) for t in outputs if t.numel()), default=0.0)
    names = ["output0"] if count == 1 else [f"output{i}" for i in range(count)]
    try:
        torch.onnx.export(
            module, (example,), str(onnx_path), input_names=[INPUT_NAME], output_names=names,
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip
    except Exception as exc:
        raise ModelImportError(f"torch.onnx.export could not convert the model: {first_line(exc)}") from None
    return peak


def _reference(torch: Any, module: Any) -> Callable[[Array], Sequence[Array]]:
    def run(tensor: Array) -> list[Array]:
        with torch.no_grad(), _quiet():
            outputs = module(torch.from_numpy(np.ascontiguousarray(tensor, np.float32)))
        return [t.detach().cpu().numpy() for t in _flatten(outputs)]

    return run


def convert(path: Path, out: Path, options: ConvertOptions, work: Path) -> Converted:
    """A TorchScript or .pt2 archive -> ONNX in ``work``, with torch itself as the reference."""
    from edgeloop.backends.onnxruntime import OnnxRuntimeBackend

    archive = inspect_archive(path)  # before torch is even imported: nothing of the file runs
    torch = _torch()
    onnx_path = work / "model.onnx"
    with _quiet():
        if archive.kind == "torchscript":
            module, shape = _load_torchscript(torch, path, options)
        else:
            module, shape = _load_export(torch, path, archive, options)
        try:
            with torch.no_grad():
                peak = _export_onnx(torch, module, shape, onnx_path)
        except ModelImportError:
            raise
        except Exception as exc:
            raise ModelImportError(f"{path.name}: the model does not run: {first_line(exc)}") from None
    backend = OnnxRuntimeBackend()
    try:
        spec = backend.load(onnx_path)
    finally:
        backend.close()
    family, input_spec, names = describe(spec, options)
    kind = "TorchScript" if archive.kind == "torchscript" else "torch.export program"
    version = f"torch {torch.__version__}"
    tolerance = tolerance_for(peak)
    notes = [f"converted from a {kind} with torch.onnx.export (opset {OPSET}, TorchScript-based exporter)"]
    if tolerance > TOLERANCE:
        notes.append(f"outputs reach {peak:.4g}: the check allows {tolerance:.2g}, four float32 steps there")
    return Converted(
        model_file=onnx_path,
        bundle_file="model.onnx",
        backend="onnxruntime",
        family=family,
        task=get_family(family).task,
        names=names,
        input=input_spec,
        framework=f"{version} ({kind})",
        source_files=[path],
        reference=_reference(torch, module),
        reference_name=version,
        tolerance=tolerance,
        notes=notes,
    )


def sniff(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SUFFIXES


FORMAT = SourceFormat(
    name="pytorch",
    title="PyTorch TorchScript / torch.export (.pt2)",
    suffixes=SUFFIXES,
    convert=convert,
    needs="pytorch",
)
