"""Create a bundle from an ONNX file.

Reads what the model says about itself (input shape, output shapes, and the
metadata Ultralytics exports write: names, imgsz, stride, task) and asks for
exactly the flag it needs when it cannot tell.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

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
from edgeloop.postprocess import DECODERS, FAMILY_TASK
from edgeloop.preprocess import InputSpec
from edgeloop.types import ModelSpec, TensorSpec

MODEL_FILE = "model.onnx"


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


def _input_layout(spec: TensorSpec) -> tuple[str, tuple[object, object]]:
    shape = spec.shape
    if len(shape) != 4:
        raise ModelImportError(
            f"model input '{spec.name}' has shape {list(shape)}; "
            "edgeloop needs an image input [N,C,H,W] or [N,H,W,C]"
        )
    if shape[1] in (1, 3):
        return "NCHW", (shape[2], shape[3])
    if shape[3] in (1, 3):
        return "NHWC", (shape[1], shape[2])
    return "NCHW", (shape[2], shape[3])


def _anchor_count(imgsz_hw: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)) -> int:
    h, w = imgsz_hw
    return sum(-(-h // s) * -(-w // s) for s in strides)


def infer_family(
    output: TensorSpec,
    task: str | None,
    end2end: bool | None,
    num_names: int | None,
    imgsz_hw: tuple[int, int],
) -> str:
    """Guess the decoder family from the first output's shape.

    Raises:
        ModelImportError: when the shape fits more than one family (or none).
    """
    shape = output.shape
    hint = "pass --family " + "|".join(DECODERS.names())
    if task == "classify" or len(shape) == 2:
        return "classify"
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape[1:]):
        raise ModelImportError(f"cannot tell the output family from output shape {list(shape)}: {hint}")
    a, b = int(shape[1]), int(shape[2])  # type: ignore[arg-type]
    if end2end or (b == 6 and a > b and end2end is None and num_names != 2):
        return "yolo-e2e"
    if a < b:
        return "yolo"
    if num_names:
        if b == 5 + num_names:
            return "yolov5"
        if b == 4 + num_names:
            return "yolo"
    base = _anchor_count(imgsz_hw)
    if a == 3 * base:
        return "yolov5"
    if a == base:
        return "yolo"
    raise ModelImportError(f"cannot tell the output family from output shape {list(shape)}: {hint}")


def _check_class_count(family: str, output: TensorSpec, names: list[str]) -> None:
    shape = output.shape
    expected: object = None
    if family == "yolo" and len(shape) == 3:
        expected = (min(shape[1], shape[2]) - 4) if all(isinstance(d, int) for d in shape[1:]) else None  # type: ignore[type-var,operator]
    elif family == "yolov5" and len(shape) == 3:
        expected = shape[2] - 5 if isinstance(shape[2], int) else None
    elif family == "classify" and isinstance(shape[-1], int):
        expected = shape[-1]
    if isinstance(expected, int) and expected != len(names):
        raise ModelImportError(
            f"{len(names)} class names given but the model's output {list(shape)} has {expected} classes: "
            "pass --names with exactly that many"
        )


def describe(spec: ModelSpec, options: ImportOptions) -> tuple[str, InputSpec, list[str]]:
    """Work out (family, input spec, names) from the model and the user's options."""
    meta = ultralytics_metadata(spec.metadata)
    layout, hw = _input_layout(spec.inputs[0])
    imgsz = options.imgsz_hw
    if imgsz is None and all(isinstance(d, int) and d > 0 for d in hw):
        imgsz = (int(hw[0]), int(hw[1]))  # type: ignore[call-overload]
    if imgsz is None and meta.get("imgsz") is not None:
        value = meta["imgsz"]
        imgsz = parse_imgsz(
            ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
        )
    if imgsz is None:
        raise ModelImportError(f"model input has dynamic height/width {list(hw)}: pass --imgsz HEIGHT,WIDTH")
    names = options.names or _names_from_metadata(meta.get("names"))
    if not names:
        raise ModelImportError(
            "the model carries no class names: pass --names a,b,c (or a file with one name per line)"
        )
    task_value = meta.get("task")
    task = task_value if isinstance(task_value, str) else None
    family = options.family
    if family is None:
        end2end = meta.get("end2end")
        family = infer_family(
            spec.outputs[0], task, end2end if isinstance(end2end, bool) else None, len(names), imgsz
        )
    if family not in DECODERS:
        raise ModelImportError(f"unknown --family '{family}': choose one of {', '.join(DECODERS.names())}")
    _check_class_count(family, spec.outputs[0], names)
    resize = options.resize or ("stretch" if family == "classify" else "letterbox")
    dtype = spec.inputs[0].dtype if spec.inputs[0].dtype in ("float32", "float16", "uint8") else "float32"
    input_spec = InputSpec(
        name=spec.inputs[0].name,
        size_hw=imgsz,
        layout=layout,
        color=options.color or "RGB",
        dtype=dtype,
        resize=resize,
    )
    return family, input_spec, names


def import_onnx(model_path: str | Path, out_dir: str | Path, options: ImportOptions | None = None) -> Bundle:
    """Create a verified bundle folder at ``out_dir`` from an ONNX model.

    Raises:
        ModelImportError: when the model cannot be described without more flags.
        BackendError: when ONNX Runtime cannot load the file.
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
    finally:
        backend.close()
    family, input_spec, names = describe(spec, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, out_dir / MODEL_FILE)
    digest = sha256_file(out_dir / MODEL_FILE)
    name = options.name or re.sub(r"[^A-Za-z0-9._-]", "-", model_path.stem).strip("-._") or "model"
    manifest = Manifest(
        name=name,
        task=FAMILY_TASK[family],
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
