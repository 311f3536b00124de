"""Privacy filters applied before a frame is encoded, so nothing they remove is ever written.

- ``dropped_class``: frames containing a class are not kept at all.
- ``obscure_boxes``: boxes of a class are replaced irreversibly: coarse grey blocks
  plus fresh random noise (from the OS, never seeded, so it cannot be regenerated),
  and every pixel is pushed at least ``min_difference`` away from the original.
- ``keep_only_boxes``: everything outside the detections is blacked out; box
  coordinates stay valid for the labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgeloop.types import Detections

ImageArray = npt.NDArray[np.uint8]
IntBoxes = npt.NDArray[np.int64]


def dropped_class(detections: Detections, classes: Sequence[str], min_confidence: float) -> str | None:
    """The first detection (at or above ``min_confidence``) whose class is in ``classes``, else None."""
    for conf, cls in zip(detections.confidence.tolist(), detections.class_id.tolist(), strict=True):
        if conf >= min_confidence and detections.class_name(cls) in classes:
            return detections.class_name(cls)
    return None


def boxes_of(detections: Detections, classes: Sequence[str] | None, min_confidence: float) -> Detections:
    """Detections at or above ``min_confidence``, of ``classes`` (all when None)."""
    keep = detections.confidence >= min_confidence
    if classes is not None:
        names = [detections.class_name(c) for c in detections.class_id.tolist()]
        keep &= np.array([n in classes for n in names], bool).reshape(-1)
    return detections[keep]


def expand(xyxy: npt.NDArray[np.float32], margin: float, size_wh: tuple[int, int]) -> IntBoxes:
    """Boxes grown by ``margin`` of their size on each side, rounded outwards and clipped to the image."""
    w, h = size_wh
    wh = xyxy[:, 2:] - xyxy[:, :2]
    grown = np.concatenate([xyxy[:, :2] - wh * margin, xyxy[:, 2:] + wh * margin], axis=1)
    out = np.concatenate([np.floor(grown[:, :2]), np.ceil(grown[:, 2:])], axis=1).astype(np.int64)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
    return out


def _obscure(region: ImageArray, min_difference: int, rng: np.random.Generator) -> ImageArray:
    h, w = region.shape[:2]
    block = max(8, -(-max(h, w) // 4))
    lum = region.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)  # BGR -> grey
    ys, xs = np.arange(0, h, block), np.arange(0, w, block)
    rows = np.add.reduceat(lum, ys, axis=0) / np.diff(np.append(ys, h))[:, None]
    means = np.add.reduceat(rows, xs, axis=1) / np.diff(np.append(xs, w))[None, :]
    grey = np.repeat(np.repeat(means, block, axis=0)[:h], block, axis=1)[:, :w]
    noisy = grey[:, :, None] + rng.uniform(-48.0, 48.0, (h, w, 3))
    out = np.clip(np.rint(noisy), 0, 255).astype(np.int16)
    close = np.abs(out - region.astype(np.int16)).max(axis=2) < min_difference
    out[close] = (out[close] + 128) % 256  # now >= 128 - min_difference away in every channel
    return out.astype(np.uint8)


def obscure_boxes(image: ImageArray, boxes: IntBoxes, min_difference: int = 32) -> ImageArray:
    """A copy of ``image`` with every (integer xyxy) box replaced irreversibly."""
    out = image.copy()
    rng = np.random.default_rng()  # OS entropy: the noise cannot be regenerated
    for x1, y1, x2, y2 in boxes.tolist():
        if x2 > x1 and y2 > y1:
            out[y1:y2, x1:x2] = _obscure(out[y1:y2, x1:x2], min_difference, rng)
    return out


def keep_only_boxes(image: ImageArray, boxes: IntBoxes) -> ImageArray:
    """A copy of ``image`` that is black outside every (integer xyxy) box."""
    out = np.zeros_like(image)
    for x1, y1, x2, y2 in boxes.tolist():
        out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out
