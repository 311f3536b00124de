"""Create a bundle from an ONNX file.

Reads what the model says about itself (input shape, output shapes, and the
metadata Ultralytics exports write: names, imgsz, stride, task), lets each
output family in ``edgeloop.postprocess.families`` recognise it, and asks for
exactly the flag it needs when it cannot tell.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgeloop.backends.onnxruntime import OnnxRuntimeBackend
from edgeloop.bundle import (
    Bundle,
    Manifest,
    Provenance,
    Variant,
    load_bundle,
    sha256_file,
    write_manifest,
)
from edgeloop.errors import BundleError, ModelImportError
from edgeloop.postprocess.families import FAMILIES, Family, Hints, get_family, recognise
from edgeloop.postprocess.families.base import dim
from edgeloop.preprocess import InputSpec
from edgeloop.types import ModelSpec, TensorSpec

MODEL_FILE = "model.onnx"
Layout = Literal["NCHW", "NHWC"]
RAW_DEFAULT_HW = (640, 640)  # what Predictor.prepare makes for a raw model without a fixed size


@dataclass(frozen=True)
class ImportOptions:
    """What the user told us; None means "read it from the model"."""

    names: list[str] | None = None
    family: str | None = None
    imgsz_hw: tuple[int, int] | None = None
    name: str | None = None
    resize: str | None = None
    color: str | None = None
    conf: float = 0.25
    iou: float = 0.7
    force: bool = False


def parse_names(value: str) -> list[str]:
    """``--names`` value: "a,b,c", or a file with one name per line."""
    path = Path(value)
    if path.is_file():
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        names = [n.strip() for n in value.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ModelImportError("--names is empty: give comma-separated names or a file with one per line")
    return names


def parse_imgsz(value: str) -> tuple[int, int]:
    """``--imgsz`` value: "640" (square) or "H,W"."""
    parts = [p for p in re.split(r"[,x ]", value.strip()) if p]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) <= 0:
        raise ModelImportError(f"--imgsz '{value}' is not a size: use 640 or HEIGHT,WIDTH")
    return (sizes[0], sizes[-1])


def ultralytics_metadata(metadata: dict[str, str]) -> dict[str, object]:
    """Parse the Python-literal metadata values that Ultralytics exports carry."""
    parsed: dict[str, object] = {}
    for key in ("names", "imgsz", "stride", "task", "end2end", "batch"):
        if key in metadata and len(metadata[key]) <= 1_000_000:  # a hostile model cannot make us parse more
            try:
                parsed[key] = ast.literal_eval(metadata[key])
            except (ValueError, SyntaxError):
                parsed[key] = metadata[key]
    return parsed


def _names_from_metadata(value: object) -> list[str] | None:
    if isinstance(value, dict) and value:
        try:
            return [str(value[i]) for i in range(len(value))]
        except KeyError:
            return None
    if isinstance(value, (list, tuple)) and value:
        return [str(v) for v in value]
    return None


def _image_layout(spec: TensorSpec) -> tuple[Layout, tuple[int | str | None, int | str | None]] | None:
    """(layout, (height, width)) of an image input [N,C,H,W] or [N,H,W,C]; None when it is not 4-D."""
    shape = spec.shape
    if len(shape) != 4:
        return None
    if shape[1] in (1, 3):
        return "NCHW", (shape[2], shape[3])
    if shape[3] in (1, 3):
        return "NHWC", (shape[1], shape[2])
    return "NCHW", (shape[2], shape[3])


def _imgsz(spec: TensorSpec, options: ImportOptions, meta: dict[str, object]) -> tuple[int, int] | None:
    """Input (height, width): the flag, else the model's fixed input size, else its metadata."""
    if options.imgsz_hw is not None:
        return options.imgsz_hw
    layout = _image_layout(spec)
    if layout is not None:
        h, w = dim(layout[1][0]), dim(layout[1][1])
        if h is not None and w is not None:
            return (h, w)
    value = meta.get("imgsz")
    if value is None:
        return None
    return parse_imgsz(",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value))


def hints(meta: dict[str, object], names: list[str] | None, imgsz_hw: tuple[int, int] | None) -> Hints:
    """What families recognise a model by, besides its output shapes."""
    task, end2end = meta.get("task"), meta.get("end2end")
    return Hints(
        task=task if isinstance(task, str) else None,
        end2end=end2end if isinstance(end2end, bool) else None,
        num_names=len(names) if names else None,
        imgsz_hw=imgsz_hw,
    )


def _check_class_count(family: Family, output: TensorSpec, names: list[str]) -> None:
    expected = family.count_classes(output)
    if expected is not None and expected != len(names):
        raise ModelImportError(
            f"{len(names)} class names given but the model's output {list(output.shape)} has {expected} "
            "classes: pass --names with exactly that many"
        )


def _input_dtype(spec: TensorSpec) -> Literal["float32", "float16", "uint8"]:
    return spec.dtype if spec.dtype in ("float32", "float16", "uint8") else "float32"  # type: ignore[return-value]


def _raw_input(spec: TensorSpec, imgsz: tuple[int, int] | None, options: ImportOptions) -> InputSpec:
    """How ``Predictor.prepare`` would make this model's input from an image.

    A raw model's input may be no image at all (token ids, features) or an
    image of any size (dynamic H and W): nothing is refused, and the tensors
    sent to it are checked against the model's own input shape instead.
    """
    layout = _image_layout(spec)
    return InputSpec(
        name=spec.name,
        size_hw=imgsz or RAW_DEFAULT_HW,
        layout=layout[0] if layout else "NCHW",
        color=options.color or "RGB",
        dtype=_input_dtype(spec),
        resize=options.resize or "letterbox",
    )


def _family(spec: ModelSpec, options: ImportOptions, found: Hints) -> Family:
    if options.family is None:
        return get_family(recognise(spec, found).family)
    if options.family not in FAMILIES:
        raise ModelImportError(
            f"unknown --family '{options.family}': choose one of {', '.join(FAMILIES.names())}"
        )
    return get_family(options.family)


def _count_classes_by_running(
    backend: OnnxRuntimeBackend, spec: ModelSpec, family: Family, input_spec: InputSpec, names: list[str]
) -> None:
    """Check the class count of an output whose class axis is symbolic (edgeloop's own
    exports: ['batch', 'Transposeoutput0_dim_1', 1029]) on the shape of one run on zeros."""
    output = spec.outputs[0]
    if family.task == "raw" or family.count_classes(output) is not None:
        return
    if all(dim(d) is not None for d in output.shape[1:]):
        return  # the shape is known and the family does not count classes from it
    h, w = input_spec.size_hw
    fill = (1, 3, h, w) if input_spec.layout == "NCHW" else (1, h, w, 3)
    shape = [dim(d) or f for d, f in zip(spec.inputs[0].shape, fill, strict=True)]
    outputs = backend.infer({input_spec.name: np.zeros(shape, np.dtype(input_spec.dtype))})
    _check_class_count(family, TensorSpec(output.name, tuple(outputs[0].shape)), names)


def describe(spec: ModelSpec, options: ImportOptions) -> tuple[str, InputSpec, list[str]]:
    """Work out (family, input spec, names) from the model and the user's options."""
    meta = ultralytics_metadata(spec.metadata)
    names = options.names or _names_from_metadata(meta.get("names"))
    imgsz = _imgsz(spec.inputs[0], options, meta)
    family = _family(spec, options, hints(meta, names, imgsz))
    if family.task == "raw":
        return family.name, _raw_input(spec.inputs[0], imgsz, options), names or []
    layout = _image_layout(spec.inputs[0])
    if layout is None:
        raise ModelImportError(
            f"model input '{spec.inputs[0].name}' has shape {list(spec.inputs[0].shape)}; edgeloop needs "
            "an image input [N,C,H,W] or [N,H,W,C] (or --family raw to run its tensors as they are)"
        )
    if imgsz is None:
        raise ModelImportError(
            f"model input has dynamic height/width {list(layout[1])}: pass --imgsz HEIGHT,WIDTH"
        )
    if not names:
        raise ModelImportError(
            "the model carries no class names: pass --names a,b,c (or a file with one name per line)"
        )
    _check_class_count(family, spec.outputs[0], names)
    input_spec = InputSpec(
        name=spec.inputs[0].name,
        size_hw=imgsz,
        layout=layout[0],
        color=options.color or "RGB",
        dtype=_input_dtype(spec.inputs[0]),
        resize=options.resize or ("stretch" if family.task == "classify" else "letterbox"),
    )
    return family.name, input_spec, names


def import_onnx(model_path: str | Path, out_dir: str | Path, options: ImportOptions | None = None) -> Bundle:
    """Create a verified bundle folder at ``out_dir`` from an ONNX model.

    Raises:
        ModelImportError: when the model cannot be described without more flags.
        BackendError: when ONNX Runtime cannot load the file (or run it, to count classes).
    """
    options = options or ImportOptions()
    model_path, out_dir = Path(model_path), Path(out_dir)
    if not model_path.is_file():
        raise ModelImportError(f"{model_path}: no such file")
    if out_dir.exists() and any(out_dir.iterdir()) and not options.force:
        raise BundleError(f"{out_dir}: folder is not empty; choose a new --out or pass --force")
    backend = OnnxRuntimeBackend()
    try:
        spec = backend.load(model_path)
        family, input_spec, names = describe(spec, options)
        _count_classes_by_running(backend, spec, get_family(family), input_spec, names)
    finally:
        backend.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, out_dir / MODEL_FILE)
    digest = sha256_file(out_dir / MODEL_FILE)
    name = options.name or re.sub(r"[^A-Za-z0-9._-]", "-", model_path.stem).strip("-._") or "model"
    manifest = Manifest(
        name=name,
        task=get_family(family).task,
        family=family,
        input=input_spec,
        names=names,
        conf=options.conf,
        iou=options.iou,
        variants=[Variant(file=MODEL_FILE, sha256=digest, size_bytes=(out_dir / MODEL_FILE).stat().st_size)],
        provenance=Provenance(source=model_path.name, source_sha256=digest),
    )
    write_manifest(out_dir, manifest)
    return load_bundle(out_dir)
