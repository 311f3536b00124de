"""``yolov5``: classic YOLOv5 heads with an objectness column.

Output (B, N, 5 + nc) rows of cx, cy, w, h, objectness, per-class scores.
Recognised by a last axis of 5 + (number of class names), or by N being three
anchors per cell of strides 8, 16, 32 at the input size.
"""

from __future__ import annotations

from edgeloop.postprocess.families.base import (
    CONFIRMED,
    SHAPE,
    Family,
    Hints,
    Match,
    anchor_count,
    detect_head,
    dim,
)
from edgeloop.postprocess.yolo import decode_yolov5 as decode
from edgeloop.types import ModelSpec, TensorSpec

NAME = "yolov5"
ROW_VALUES = 5  # cx, cy, w, h, objectness
ANCHORS_PER_CELL = 3


def count_classes(output: TensorSpec) -> int | None:
    """nc of a (B, N, 5 + nc) output."""
    last = dim(output.shape[-1]) if len(output.shape) == 3 else None
    return last - ROW_VALUES if last is not None and last > ROW_VALUES else None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Claim (B, N, 5 + nc) outputs."""
    head = detect_head(spec, hints)
    if head is None or hints.end2end:
        return None
    a, b = head
    nc = hints.num_names
    if nc and b == ROW_VALUES + nc:
        return Match(NAME, CONFIRMED, nc, f"rows of 4 box values + objectness + {nc} class scores")
    if hints.imgsz_hw is not None and b is not None and b > ROW_VALUES:
        anchors = ANCHORS_PER_CELL * anchor_count(hints.imgsz_hw)
        if a == anchors:
            h, w = hints.imgsz_hw
            return Match(NAME, SHAPE, b - ROW_VALUES, f"{anchors} rows: 3 anchors per cell over {h}x{w}")
    return None


FAMILY = Family(
    name=NAME,
    task="detect",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="YOLOv5 head with objectness: (N, 5 + nc)",
)
