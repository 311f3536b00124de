"""What an output family declares, and the facts it recognises a model by.

An output family is one way a model lays out its results (the YOLO anchor-free
head, YOLOv5's objectness head, NMS-free end-to-end heads, classifier scores,
or ``raw`` tensors that edgeloop does not interpret). Each family lives in one
module of this package that builds one ``Family``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy.typing as npt

from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import Classification, Detections, ModelSpec, TensorSpec

Task = Literal["detect", "classify", "raw"]
Decoder = Callable[[Sequence[npt.NDArray[Any]], Transform, DecodeOptions], Detections | Classification]

SHAPE = 1
"""Match score: the output shape alone fits the family."""
CONFIRMED = 2
"""Match score: the class names or the model's metadata confirm the shape reading."""

YOLO_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Hints:
    """What is known about a model besides its output shapes.

    Attributes:
        task: the ``task`` metadata Ultralytics-style exports carry (detect, classify, ...).
        end2end: the ``end2end`` metadata (NMS-free heads), when present.
        num_names: how many class names the metadata or the user gave.
        imgsz_hw: the input height and width, when known.
    """

    task: str | None = None
    end2end: bool | None = None
    num_names: int | None = None
    imgsz_hw: tuple[int, int] | None = None


@dataclass(frozen=True)
class Match:
    """A family's claim on a model.

    Attributes:
        family: the family's name.
        score: ``SHAPE`` or ``CONFIRMED``; the highest score wins, ties are ambiguous.
        num_classes: the class count the family reads from the output (None: unknown).
        reason: why, in words, for error messages.
    """

    family: str
    score: int
    num_classes: int | None
    reason: str


@dataclass(frozen=True)
class Family:
    """One output family.

    Attributes:
        name: the registry name, written to ``bundle.json`` as ``family``.
        task: what its results are: detect, classify, or raw (no decoder).
        decode: one image's outputs (batch axis removed) -> results; None for raw.
        recognise: (model spec, hints) -> a ``Match``, or None when the model is not of this family.
        count_classes: the first output's spec -> the class count its shape implies (None: unknown).
        summary: one line for help texts and docs.
    """

    name: str
    task: Task
    decode: Decoder | None
    recognise: Callable[[ModelSpec, Hints], Match | None]
    count_classes: Callable[[TensorSpec], int | None]
    summary: str


def dim(value: int | str | None) -> int | None:
    """A fixed dimension as an int; None when it is symbolic or unknown."""
    return value if isinstance(value, int) and value > 0 else None


def anchor_count(imgsz_hw: tuple[int, int], strides: tuple[int, ...] = YOLO_STRIDES) -> int:
    """Grid cells over all strides: the anchor count of a YOLO head at this input size."""
    h, w = imgsz_hw
    return sum(-(-h // s) * -(-w // s) for s in strides)


def takes_image(spec: ModelSpec) -> bool:
    """Whether the model's first input is 4-D, as an image batch is (NCHW or NHWC)."""
    return len(spec.inputs[0].shape) == 4


def detect_head(spec: ModelSpec, hints: Hints) -> tuple[int | None, int | None] | None:
    """The two non-batch dimensions of a 3-D detection output, or None when it is not one."""
    shape = spec.outputs[0].shape
    if len(shape) != 3 or hints.task not in (None, "detect") or not takes_image(spec):
        return None
    return dim(shape[1]), dim(shape[2])
