"""Decoders for the YOLO output families.

- ``yolo``: anchor-free heads (YOLOv8, YOLO11, YOLOv5u): (4 + nc, N) rows of
  cx, cy, w, h in input pixels, then per-class scores already in [0, 1].
- ``yolo-e2e``: NMS-free heads (YOLOv10, YOLO26): (N, 6) rows of
  x1, y1, x2, y2, score, class.
- ``yolov5``: classic YOLOv5 heads: (N, 5 + nc) rows of cx, cy, w, h,
  objectness, per-class scores.

Each decoder takes one image's outputs (batch axis removed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgeloop.postprocess.nms import batched_nms
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import Detections

MAX_NMS_CANDIDATES = 30_000


def _cxcywh_to_xyxy(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out = np.empty_like(boxes)
    half = boxes[:, 2:4] / 2
    out[:, :2] = boxes[:, :2] - half
    out[:, 2:] = boxes[:, :2] + half
    return out


def _finish(
    xyxy: npt.NDArray[np.float32],
    conf: npt.NDArray[np.float32],
    cls: npt.NDArray[np.int32],
    transform: Transform,
    options: DecodeOptions,
    run_nms: bool,
) -> Detections:
    if options.classes is not None:
        wanted = np.isin(cls, np.asarray(options.classes, np.int32))
        xyxy, conf, cls = xyxy[wanted], conf[wanted], cls[wanted]
    if run_nms:
        if len(conf) > MAX_NMS_CANDIDATES:
            top = np.argpartition(-conf, MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]
            xyxy, conf, cls = xyxy[top], conf[top], cls[top]
        keep = batched_nms(xyxy, conf, cls, options.iou, options.max_det, options.agnostic)
    else:
        keep = np.argsort(-conf, kind="stable")[: options.max_det]
    xyxy = transform.boxes_to_original(xyxy[keep])
    return Detections(xyxy, conf[keep], cls[keep], options.names)


def _channels_first(out: npt.NDArray[np.float32], num_classes: int, extra: int) -> bool:
    """Whether a 2-D head output is (channels, anchors) rather than (anchors, channels)."""
    if num_classes:
        if out.shape[0] == extra + num_classes:
            return True
        if out.shape[1] == extra + num_classes:
            return False
    return out.shape[0] < out.shape[1]


def decode_anchor_free(
    outputs: Sequence[npt.NDArray[np.float32]], transform: Transform, options: DecodeOptions
) -> Detections:
    """Decode a (4 + nc, N) anchor-free YOLO head (or its (N, 4 + nc) transpose)."""
    out = np.asarray(outputs[0], dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"yolo decoder expects a 2-D output per image, got shape {out.shape}")
    if not _channels_first(out, len(options.names), 4):
        out = out.T
    scores = out[4:]
    best = scores.max(axis=0)
    idx = np.flatnonzero(best > options.conf)
    if idx.size == 0:
        return Detections.empty(options.names)
    cls = scores[:, idx].argmax(axis=0).astype(np.int32)
    xyxy = _cxcywh_to_xyxy(np.ascontiguousarray(out[:4, idx].T))
    return _finish(xyxy, best[idx], cls, transform, options, run_nms=True)


def decode_yolov5(
    outputs: Sequence[npt.NDArray[np.float32]], transform: Transform, options: DecodeOptions
) -> Detections:
    """Decode an (N, 5 + nc) YOLOv5 head with an objectness column."""
    out = np.asarray(outputs[0], dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"yolov5 decoder expects a 2-D output per image, got shape {out.shape}")
    if _channels_first(out, len(options.names), 5):
        out = out.T
    candidates = out[out[:, 4] > options.conf]
    if candidates.shape[0] == 0:
        return Detections.empty(options.names)
    scores = candidates[:, 5:] * candidates[:, 4:5]
    cls = scores.argmax(axis=1).astype(np.int32)
    conf = scores[np.arange(len(cls)), cls]
    keep = conf > options.conf
    xyxy = _cxcywh_to_xyxy(np.ascontiguousarray(candidates[keep, :4]))
    return _finish(xyxy, conf[keep], cls[keep], transform, options, run_nms=True)


def decode_end_to_end(
    outputs: Sequence[npt.NDArray[np.float32]], transform: Transform, options: DecodeOptions
) -> Detections:
    """Decode an NMS-free (N, 6) head: x1, y1, x2, y2, score, class."""
    out = np.asarray(outputs[0], dtype=np.float32)
    if out.ndim != 2 or out.shape[1] < 6:
        raise ValueError(f"yolo-e2e decoder expects (N, 6) per image, got shape {out.shape}")
    out = out[out[:, 4] > options.conf]
    xyxy = np.ascontiguousarray(out[:, :4])
    cls = out[:, 5].round().astype(np.int32)
    return _finish(xyxy, out[:, 4].copy(), cls, transform, options, run_nms=False)
