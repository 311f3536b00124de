"""Anchor-based YOLO heads (Darknet's [yolo] layer: YOLOv3, YOLOv4, YOLOv7-tiny) -> candidate boxes.

Each output is one head's raw map ``(A * (5 + nc), H, W)``: per anchor and cell tx, ty,
tw, th, objectness, then nc class logits. Darknet decodes a cell (i, j) of anchor (aw, ah):

- classic: ``x = (i + sigmoid(tx) * s - (s - 1) / 2) * stride``, ``w = exp(tw) * aw``,
  objectness and classes through a sigmoid;
- ``new_coords=1`` (YOLOv7 cfgs; the conv before the head already applies the logistic):
  ``x = (i + tx * s - (s - 1) / 2) * stride``, ``w = (2 * tw) ** 2 * aw``, no sigmoid;

where ``s`` is ``scale_x_y``. The confidence of a box is objectness x class probability
(Darknet's and OpenCV's semantics); each box keeps its best class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.errors import BundleError

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AnchorHead:
    """One [yolo] layer's decoding parameters.

    Attributes:
        anchors: (width, height) in input pixels, one per anchor of this head (the cfg's mask applied).
        stride: input pixels per grid cell along (x, y).
        scale_x_y: Darknet's ``scale_x_y`` (1 = plain sigmoid offsets).
        new_coords: Darknet's ``new_coords`` form (YOLOv7).
        grid_hw: the map's height and width at the input size ``stride`` was worked out for
            (Darknet's stride is the network's input size over the map's); None: not checked.
    """

    anchors: tuple[tuple[float, float], ...]
    stride: tuple[float, float]
    scale_x_y: float = 1.0
    new_coords: bool = False
    grid_hw: tuple[int, int] | None = None


def _sigmoid(x: FloatArray) -> FloatArray:
    out = 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))
    return np.asarray(out, np.float32)


def decode_head(
    out: npt.NDArray[Any], head: AnchorHead, num_classes: int, conf: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int32]]:
    """One head's boxes scoring above ``conf``: (xyxy in input pixels, confidence, class id).

    Raises:
        ValueError: the map's channels are not anchors x (5 + classes).
        BundleError: the map's size is not the head's ``grid_hw`` (a model run at another input size).
    """
    a = len(head.anchors)
    per = 5 + num_classes
    if out.ndim != 3 or out.shape[0] != a * per:
        raise ValueError(
            f"a [yolo] head with {a} anchors and {num_classes} classes needs a ({a * per}, H, W) map, "
            f"got {list(out.shape)}"
        )
    _, h, w = out.shape
    if head.grid_hw is not None and (h, w) != tuple(head.grid_hw):
        gh, gw = head.grid_hw
        raise BundleError(
            f"a [yolo] head's map is {h}x{w} but bundle.json's head was written for {gh}x{gw} "
            "(its strides hold for that input size only): run the model at the bundle's input size, "
            "or import it again at the size it runs at"
        )
    v = np.asarray(out, np.float32).reshape(a, per, h * w)
    obj = v[:, 4] if head.new_coords else _sigmoid(v[:, 4])
    anchor, cell = np.nonzero(obj > conf)  # a box's confidence never exceeds its objectness
    if anchor.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    rows = v[anchor, :, cell]  # (K, 5 + nc)
    probs = rows[:, 5:] if head.new_coords else _sigmoid(rows[:, 5:])
    cls = probs.argmax(axis=1).astype(np.int32)
    score = obj[anchor, cell] * probs[np.arange(len(cls)), cls]
    keep = score > conf
    rows, anchor, cell, cls, score = rows[keep], anchor[keep], cell[keep], cls[keep], score[keep]
    s = np.float32(head.scale_x_y)
    offsets = rows[:, 0:2] if head.new_coords else _sigmoid(rows[:, 0:2])
    offsets = offsets * s - (s - 1) / 2
    gx, gy = (cell % w).astype(np.float32), (cell // w).astype(np.float32)
    cx = (gx + offsets[:, 0]) * np.float32(head.stride[0])
    cy = (gy + offsets[:, 1]) * np.float32(head.stride[1])
    sizes = np.asarray(head.anchors, np.float32)[anchor]
    if head.new_coords:
        wh = (2 * rows[:, 2:4]) ** 2 * sizes
    else:
        wh = np.exp(np.clip(rows[:, 2:4], -60.0, 30.0)) * sizes
    xyxy = np.stack([cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2, cy + wh[:, 1] / 2], axis=1)
    return xyxy.astype(np.float32), score.astype(np.float32), cls


def decode_heads(
    outputs: Sequence[npt.NDArray[Any]], heads: Sequence[AnchorHead], num_classes: int, conf: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int32]]:
    """All heads' candidates above ``conf``, concatenated (before NMS).

    Raises:
        ValueError: the outputs do not match the heads in number or shape.
    """
    if len(outputs) != len(heads):
        raise ValueError(f"{len(outputs)} outputs for {len(heads)} [yolo] heads")
    parts = [decode_head(np.asarray(o), h, num_classes, conf) for o, h in zip(outputs, heads, strict=True)]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )
