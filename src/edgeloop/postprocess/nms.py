"""Greedy non-maximum suppression in numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.intp]


def box_iou_one_to_many(
    box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """IoU of one (4,) xyxy box with each of (N, 4) boxes -> (N,)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    iou_threshold: float,
    max_keep: int | None = None,
) -> IndexArray:
    """Indices of boxes kept by greedy NMS, best score first.

    A box is dropped when its IoU with a kept, higher-scoring box exceeds
    ``iou_threshold``. Stops after ``max_keep`` boxes, so the work is bounded
    by max_keep x N even when thousands of candidates pass the threshold.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    limit = len(order) if max_keep is None else max_keep
    while order.size and len(keep) < limit:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[box_iou_one_to_many(xyxy[best], xyxy[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def batched_nms(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    class_id: npt.NDArray[np.int32],
    iou_threshold: float,
    max_keep: int | None = None,
    agnostic: bool = False,
) -> IndexArray:
    """NMS within each class (or across classes when ``agnostic``).

    Classes are separated by shifting each class's boxes to its own region of
    the plane, so one pass handles every class.
    """
    if agnostic or xyxy.shape[0] == 0:
        return nms(xyxy, scores, iou_threshold, max_keep)
    span = float(np.abs(xyxy).max()) + 1.0
    shifted = xyxy + (class_id.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
