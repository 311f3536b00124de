"""What a source format module provides, and what it hands to the shared bundle writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from edgeloop.importer import ImportOptions
from edgeloop.preprocess import InputSpec

if TYPE_CHECKING:
    from edgeloop.bundle import Bundle

Array = npt.NDArray[Any]
Reference = Callable[[Array], Sequence[Array]]
"""The source framework run on one prepared input tensor (the bundle's input layout, batch 1):
its raw outputs, in the order of the converted model's outputs."""


@dataclass(frozen=True)
class ConvertOptions(ImportOptions):
    """``ImportOptions`` plus what other frameworks need.

    Attributes:
        weights: the weights file of formats that keep them apart (Darknet ``.weights``,
            Caffe ``.caffemodel``).
        source_format: the format by name (``--from``), instead of recognising it.
        samples: a folder of images to use as golden samples (default: synthetic images).
        num_samples: how many golden samples to store.
        check: run the bundle beside the source framework on the samples and refuse a
            bundle whose outputs differ by more than the converter's tolerance.
        to_onnx: convert a model that could run as it is (``.tflite``) to ONNX instead.
        input_names: a frozen TensorFlow graph's input (``--inputs``), when it has several placeholders.
        output_names: a frozen graph's outputs (``--outputs``), instead of the nodes nothing reads.
        mean: per-channel pixel mean subtracted before ``scale`` (Caffe's ``(x - mean) * scale``),
            in the model's channel order; None: the format's default.
        scale: multiplies ``(x - mean)``; None: the format's default.
    """

    weights: Path | None = None
    source_format: str | None = None
    samples: Path | None = None
    num_samples: int = 3
    check: bool = True
    to_onnx: bool = False
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    mean: tuple[float, float, float] | None = None
    scale: float | None = None


def parse_mean(value: str) -> tuple[float, float, float]:
    """``--mean`` value: one number for every channel, or three comma-separated ones.

    Raises:
        ModelImportError: not one or three numbers.
    """
    from edgeloop.errors import ModelImportError

    try:
        values = [float(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if len(values) not in (1, 3):
        raise ModelImportError(f"--mean '{value}' is not a mean: give 127.5 or three values B,G,R")
    if len(values) == 1:
        values *= 3
    return (values[0], values[1], values[2])


@dataclass
class Converted:
    """A converted model, ready for ``write.write_bundle``.

    Attributes:
        model_file: the model to put in the bundle (an ONNX file, a ``.tflite`` ...), in the work folder.
        bundle_file: its name inside the bundle (``model.onnx``, ``model.tflite``).
        backend: the backend that runs it (``onnxruntime``, ``litert``, ``ncnn``).
        family: the output family that decodes it.
        task: detect, classify or raw.
        names: class names.
        input: how images are prepared for it.
        framework: the source framework and version, e.g. ``tensorflow 2.21.0`` or ``darknet``.
        source_files: the files it came from (their sha256 goes into the provenance).
        reference: the source framework itself, for the golden-sample check (None: nothing
            independent of the converter can run it here; recorded as unchecked).
        reference_name: what ``reference`` is (``tensorflow 2.21.0``, ``opencv-dnn 4.14.0``).
        tolerance: the largest absolute output difference the check accepts.
        head: decoder parameters for the manifest (anchors, prior boxes).
        precision: fp32, fp16 or int8.
        extra_files: other files the model needs: name inside the bundle -> path in the work folder.
        conf: default confidence threshold (None: the user's ``--conf``).
        iou: default NMS IoU threshold (None: the user's ``--iou``).
        notes: lines for the user (what was assumed, what was left out).
    """

    model_file: Path
    bundle_file: str
    backend: str
    family: str
    task: Literal["detect", "classify", "raw"]
    names: list[str]
    input: InputSpec
    framework: str
    source_files: list[Path]
    reference: Reference | None = None
    reference_name: str | None = None
    tolerance: float = 1e-4
    head: dict[str, Any] | None = None
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    extra_files: dict[str, Path] = field(default_factory=dict)
    conf: float | None = None
    iou: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SourceFormat:
    """One importable framework format.

    Attributes:
        name: the registry name (``--from``).
        title: for messages and docs, e.g. "Darknet .cfg + .weights".
        suffixes: file suffixes that identify it (lower case, with the dot).
        convert: (model path, bundle folder, options, work folder) -> ``Converted``, or the
            finished ``Bundle`` when the format writes it itself (ONNX).
        sniff: for folders or ambiguous suffixes: whether the path is of this format.
        needs: the pip extra or package that the conversion needs, for error messages.
    """

    name: str
    title: str
    suffixes: tuple[str, ...]
    convert: Callable[[Path, Path, ConvertOptions, Path], Converted | Bundle]
    sniff: Callable[[Path], bool] | None = None
    needs: str | None = None

    def claims(self, path: Path) -> bool:
        """Whether ``path`` looks like this format."""
        if self.sniff is not None:
            return self.sniff(path)
        return path.is_file() and path.suffix.lower() in self.suffixes

    def describe_inputs(self) -> str:
        return ", ".join(self.suffixes) if self.suffixes else "a folder"


def max_abs_diff(ours: Sequence[Array], theirs: Sequence[Array]) -> float:
    """The largest absolute difference between two lists of outputs of the same shapes.

    Raises:
        ValueError: the lists differ in length or shape (the caller names the model).
    """
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} outputs against {len(theirs)}")
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.size != b64.size:
            raise ValueError(f"output shapes {list(a64.shape)} and {list(b64.shape)}")
        worst = max(worst, float(np.max(np.abs(a64.reshape(-1) - b64.reshape(-1)), initial=0.0)))
    return worst
