"""``yolo``: anchor-free heads (YOLOv8, YOLO11, YOLOv5u, edgeloop's own models).

Output (B, 4 + nc, N) rows of cx, cy, w, h in input pixels, then per-class
scores in [0, 1]; (B, N, 4 + nc) is read too. Recognised by an axis of
4 + (number of class names), by N matching the anchors of strides 8, 16, 32
at the input size (edgeloop's exports leave the class axis symbolic, e.g.
['batch', 'Transposeoutput0_dim_1', 1029] at 224), or by fewer channels than
anchors.
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
from edgeloop.postprocess.yolo import decode_anchor_free as decode
from edgeloop.types import ModelSpec, TensorSpec

NAME = "yolo"
BOX_VALUES = 4


def count_classes(output: TensorSpec) -> int | None:
    """nc of a (B, 4 + nc, N) output (or its transpose): the smaller axis less 4."""
    if len(output.shape) != 3:
        return None
    a, b = dim(output.shape[1]), dim(output.shape[2])
    if a is None or b is None or min(a, b) <= BOX_VALUES:
        return None
    return min(a, b) - BOX_VALUES


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Claim (B, 4 + nc, N) and (B, N, 4 + nc) outputs."""
    head = detect_head(spec, hints)
    if head is None or hints.end2end:
        return None
    a, b = head
    nc = hints.num_names
    if nc and BOX_VALUES + nc in (a, b):
        return Match(NAME, CONFIRMED, nc, f"an axis of 4 box values + {nc} class scores")
    if hints.imgsz_hw is not None:
        anchors = anchor_count(hints.imgsz_hw)
        if anchors in (a, b):
            other = b if a == anchors else a
            classes = other - BOX_VALUES if other is not None and other > BOX_VALUES else nc
            h, w = hints.imgsz_hw
            return Match(NAME, SHAPE, classes, f"{anchors} anchors: strides 8, 16, 32 over {h}x{w}")
    if a is not None and b is not None and BOX_VALUES < a < b:
        return Match(NAME, SHAPE, a - BOX_VALUES, "fewer channels than anchors: (4 + nc, N)")
    return None


FAMILY = Family(
    name=NAME,
    task="detect",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="anchor-free YOLO head (v8, 11, v5u, edgeloop): (4 + nc, N)",
)
