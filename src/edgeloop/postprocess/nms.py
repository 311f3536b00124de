"""Greedy non-maximum suppression in numpy.

Up to ``MATRIX_LIMIT`` candidates, one pairwise IoU matrix is computed and the
greedy pass only visits boxes that overlap something; above it, a loop bounded
by the number of boxes kept avoids the N x N memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float32]

MATRIX_LIMIT = 1024


def box_iou_one_to_many(box: FloatArray, boxes: FloatArray) -> FloatArray:
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


def box_iou_matrix(boxes: FloatArray) -> FloatArray:
    """(N, N) pairwise IoU of (N, 4) xyxy boxes."""
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, i]) for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    w = np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :])
    h = np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :])
    np.clip(w, 0, None, out=w)
    np.clip(h, 0, None, out=h)
    inter = w * h
    union = area[:, None] + area[None, :] - inter
    np.maximum(union, 1e-12, out=union)
    return (inter / union).astype(np.float32, copy=False)


def _nms_sorted_matrix(boxes: FloatArray, iou_threshold: float) -> npt.NDArray[np.bool_]:
    """Keep-mask for boxes already sorted best first."""
    over = np.triu(box_iou_matrix(boxes) > iou_threshold, k=1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    # Only boxes that overlap a lower-scoring box can suppress anything; visiting
    # them best first, skipping those already suppressed, is exact greedy NMS.
    for i in np.flatnonzero(over.any(axis=1)).tolist():
        if not suppressed[i]:
            suppressed |= over[i]
    return ~suppressed


def _nms_sorted_loop(boxes: FloatArray, iou_threshold: float, limit: int) -> IndexArray:
    order = np.arange(len(boxes))
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def nms(
    xyxy: FloatArray,
    scores: FloatArray,
    iou_threshold: float,
    max_keep: int | None = None,
) -> IndexArray:
    """Indices of boxes kept by greedy NMS, best score first.

    A box is dropped when its IoU with a kept, higher-scoring box exceeds
    ``iou_threshold``. At most ``max_keep`` indices are returned.
    """
    order = np.argsort(-scores, kind="stable")
    limit = len(order) if max_keep is None else max_keep
    if len(order) == 0:
        return order.astype(np.intp)
    boxes = np.ascontiguousarray(xyxy[order], dtype=np.float32)
    if len(order) <= MATRIX_LIMIT:
        kept = order[_nms_sorted_matrix(boxes, iou_threshold)]
    else:
        kept = order[_nms_sorted_loop(boxes, iou_threshold, limit)]
    return kept[:limit].astype(np.intp)


def batched_nms(
    xyxy: FloatArray,
    scores: FloatArray,
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
