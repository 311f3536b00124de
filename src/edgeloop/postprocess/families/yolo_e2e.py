"""``yolo-e2e``: NMS-free end-to-end heads (YOLOv10, YOLO26).

Output (B, N, 6) rows of x1, y1, x2, y2, score, class id. Recognised by the
``end2end`` metadata, or by a last axis of 6 with more rows than that.
"""

from __future__ import annotations

from edgeloop.postprocess.families.base import CONFIRMED, SHAPE, Family, Hints, Match, detect_head
from edgeloop.postprocess.yolo import decode_end_to_end as decode
from edgeloop.types import ModelSpec, TensorSpec

NAME = "yolo-e2e"
ROW_VALUES = 6


def count_classes(output: TensorSpec) -> int | None:
    """Unknown: the class is a value in each row, not an axis."""
    return None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Claim (B, N, 6) outputs, and any 3-D detection output marked end2end."""
    head = detect_head(spec, hints)
    if head is None or hints.end2end is False:
        return None
    a, b = head
    if hints.end2end and b is not None and b >= ROW_VALUES:
        return Match(NAME, CONFIRMED, hints.num_names, "the model's metadata says end2end")
    if b == ROW_VALUES and (a is None or a > b):
        return Match(NAME, SHAPE, hints.num_names, "rows of x1, y1, x2, y2, score, class")
    return None


FAMILY = Family(
    name=NAME,
    task="detect",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="NMS-free YOLO head (v10, 26): (N, 6) x1 y1 x2 y2 score class",
)
