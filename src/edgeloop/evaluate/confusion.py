"""A detection confusion matrix: boxes matched one-to-one by IoU, whatever their classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset
from edgeloop.types import Detections, FloatArray


def pairwise_iou(a: FloatArray, b: FloatArray) -> npt.NDArray[np.float64]:
    """(N, M) IoU of (N, 4) and (M, 4) pixel xyxy boxes."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    lt = np.maximum(a64[:, None, :2], b64[None, :, :2])
    rb = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a64[:, 2:] - a64[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b64[:, 2:] - b64[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_pairs(iou: npt.NDArray[np.float64], threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one (truth, prediction) pairs, highest IoU first, each at or above ``threshold``."""
    truth, pred = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[truth, pred], kind="stable")
    used_t: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for t, p in zip(truth[order].tolist(), pred[order].tolist(), strict=True):
        if t not in used_t and p not in used_p:
            used_t.add(t)
            used_p.add(p)
            pairs.append((t, p))
    return pairs


def detection_confusion(
    dataset: Dataset, predictions: Sequence[Detections], conf: float = 0.25, iou: float = 0.5
) -> npt.NDArray[np.int64]:
    """(K + 1, K + 1) counts: row = true class, column = predicted class; index K is background.

    Predictions at or above ``conf`` are matched to ground truth one-to-one by IoU
    (at least ``iou``, classes ignored, so a right box with a wrong class shows up
    off the diagonal). Unmatched truth counts as predicted background (missed);
    unmatched predictions as true background (false alarms).
    """
    k = len(dataset.names)
    matrix = np.zeros((k + 1, k + 1), np.int64)
    for item, pred in zip(dataset.items, predictions, strict=True):
        truth = item.detections if item.detections is not None else Detections.empty()
        kept = pred.filter(min_confidence=conf)
        pairs = match_pairs(pairwise_iou(truth.xyxy, kept.xyxy), iou)
        for t, p in pairs:
            matrix[truth.class_id[t], kept.class_id[p]] += 1
        missed = np.setdiff1d(np.arange(len(truth)), [t for t, _ in pairs])
        false = np.setdiff1d(np.arange(len(kept)), [p for _, p in pairs])
        np.add.at(matrix, (truth.class_id[missed], k), 1)
        np.add.at(matrix, (k, kept.class_id[false]), 1)
    return matrix
