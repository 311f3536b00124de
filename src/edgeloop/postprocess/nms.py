"""Greedy non-maximum suppression.

``nms`` is a numpy implementation whose work is bounded by the number of
boxes kept. ``batched_nms`` uses the compiled loop in ``edgeloop._native``
for up to ``NATIVE_LIMIT`` candidates (a few microseconds for the usual tens
of boxes, where numpy's per-call overhead would dominate) and ``nms`` above
it, or when the extension was not built. Both keep exactly the same boxes
as OpenCV's ``NMSBoxesBatched`` (tested).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edgeloop.native import kernels as native

IndexArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float32]

NATIVE_LIMIT = 1500  # the compiled loop compares each box with every kept one


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


def nms(
    xyxy: FloatArray,
    scores: FloatArray,
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
        order = rest[box_iou_one_to_many(xyxy[best], xyxy[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def _native_nms(
    xyxy: FloatArray,
    scores: FloatArray,
    class_id: npt.NDArray[np.int32],
    iou_threshold: float,
    max_keep: int | None,
    agnostic: bool,
) -> IndexArray:
    assert native is not None
    order = np.argsort(-scores, kind="stable")
    boxes = np.ascontiguousarray(xyxy[order], dtype=np.float32)
    groups = np.zeros(len(order), np.int32) if agnostic else np.ascontiguousarray(class_id[order], np.int32)
    keep = np.empty(len(order), np.int64)
    count = native.nms_sorted(
        boxes, groups, float(iou_threshold), len(order) if max_keep is None else max_keep, keep
    )
    return order[keep[:count]].astype(np.intp)


def batched_nms(
    xyxy: FloatArray,
    scores: FloatArray,
    class_id: npt.NDArray[np.int32],
    iou_threshold: float,
    max_keep: int | None = None,
    agnostic: bool = False,
) -> IndexArray:
    """NMS within each class (or across classes when ``agnostic``), best score first."""
    if xyxy.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    if native is not None and xyxy.shape[0] <= NATIVE_LIMIT:
        return _native_nms(xyxy, scores, class_id, iou_threshold, max_keep, agnostic)
    if agnostic:
        return nms(xyxy, scores, iou_threshold, max_keep)
    # Shift each class to its own region of the plane: one pass handles every class.
    span = float(np.abs(xyxy).max()) + 1.0
    shifted = xyxy + (class_id.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
