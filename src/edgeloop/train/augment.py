"""Training augmentation: pure functions on (image, boxes) pairs, numpy + OpenCV.

Images are HxWx3 uint8 BGR; boxes are (K, 4) float32 xyxy pixels with (K,)
int64 class ids alongside. Every function takes a ``numpy.random.Generator``
so a seed fixes the whole stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgeloop.imaging import ImageArray
from edgeloop.optional import require_opencv
from edgeloop.preprocess import letterbox

cv2 = require_opencv("training augmentation", "train")

Boxes = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
PAD = 114


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; 0 turns one off."""

    mosaic: float = 1.0
    scale: float = 0.4
    translate: float = 0.1
    flip_lr: float = 0.5
    hue: float = 0.015
    saturation: float = 0.6
    value: float = 0.35


@dataclass(frozen=True)
class Sample:
    """One training image and its labels."""

    image: ImageArray
    xyxy: Boxes
    labels: Labels


def fit(sample: Sample, size: int) -> Sample:
    """Letterbox to ``size`` x ``size``, as the predictor does."""
    image, transform = letterbox(sample.image, (size, size), PAD)
    gx, gy = transform.gain_xy
    px, py = transform.pad_xy
    xyxy = sample.xyxy * np.array([gx, gy, gx, gy], np.float32) + np.array([px, py, px, py], np.float32)
    return Sample(image, xyxy.astype(np.float32), sample.labels)


def mosaic(samples: list[Sample], size: int, rng: np.random.Generator) -> Sample:
    """Four letterboxed samples around a random centre of a 2*size canvas."""
    canvas = np.full((2 * size, 2 * size, 3), PAD, np.uint8)
    cx, cy = (int(v) for v in rng.uniform(0.5 * size, 1.5 * size, 2))
    boxes, labels = [], []
    for index, sample in enumerate(samples[:4]):
        s = fit(sample, size)
        # Quadrant corners: each image touches the centre with one of its own corners.
        x0 = cx - size if index in (0, 2) else cx
        y0 = cy - size if index in (0, 1) else cy
        # The part of the image that lands on the canvas.
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + size, 2 * size), min(y0 + size, 2 * size)
        canvas[cy0:cy1, cx0:cx1] = s.image[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        boxes.append(s.xyxy + np.array([x0, y0, x0, y0], np.float32))
        labels.append(s.labels)
    return clip_boxes(Sample(canvas, np.concatenate(boxes), np.concatenate(labels)), 2 * size)


def random_affine(
    sample: Sample, size: int, cfg: AugmentConfig, rng: np.random.Generator, base_gain: float | None = None
) -> Sample:
    """Scale and translate into a ``size`` x ``size`` output; boxes clipped, slivers dropped.

    ``base_gain`` is the scale before jitter: by default the one that fits the image
    into the output; a mosaic passes 1 so objects keep their size and the output
    is a crop around the canvas centre.
    """
    h, w = sample.image.shape[:2]
    base = size / max(h, w) if base_gain is None else base_gain
    gain = base * rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    tx = size / 2 - w * gain / 2 + rng.uniform(-cfg.translate, cfg.translate) * size
    ty = size / 2 - h * gain / 2 + rng.uniform(-cfg.translate, cfg.translate) * size
    matrix = np.array([[gain, 0, tx], [0, gain, ty]], np.float32)
    image = cv2.warpAffine(
        sample.image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(PAD, PAD, PAD)
    )
    xyxy = sample.xyxy * np.float32(gain) + np.array([tx, ty, tx, ty], np.float32)
    return clip_boxes(Sample(image, xyxy.astype(np.float32), sample.labels), size)


def clip_boxes(sample: Sample, size: int, min_side: float = 3.0, min_visible: float = 0.35) -> Sample:
    """Clip boxes to the image; drop those thinner than ``min_side`` or mostly outside."""
    if len(sample.xyxy) == 0:  # nothing to clip (or a classification sample)
        return sample
    before = (sample.xyxy[:, 2:] - sample.xyxy[:, :2]).prod(1)
    xyxy = sample.xyxy.clip(0, size)
    sides = xyxy[:, 2:] - xyxy[:, :2]
    keep = (sides.min(1) >= min_side) & (sides.prod(1) >= min_visible * before)
    return Sample(sample.image, xyxy[keep], sample.labels[keep])


def hsv_jitter(image: ImageArray, cfg: AugmentConfig, rng: np.random.Generator) -> ImageArray:
    """Random hue shift and saturation/value gains through lookup tables."""
    gains = rng.uniform(-1, 1, 3) * np.array([cfg.hue, cfg.saturation, cfg.value]) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    merged = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(merged, cv2.COLOR_HSV2BGR)


def flip_lr(sample: Sample) -> Sample:
    """Mirror left-right."""
    w = sample.image.shape[1]
    xyxy = sample.xyxy.copy()
    xyxy[:, [0, 2]] = w - sample.xyxy[:, [2, 0]]
    return Sample(np.ascontiguousarray(sample.image[:, ::-1]), xyxy, sample.labels)


def augment(
    pick: list[Sample], size: int, cfg: AugmentConfig, rng: np.random.Generator, use_mosaic: bool
) -> Sample:
    """One training sample from ``pick`` (4 samples when mosaic is drawn, else the first)."""
    if use_mosaic and len(pick) >= 4 and rng.random() < cfg.mosaic:
        sample = random_affine(mosaic(pick, size, rng), size, cfg, rng, base_gain=1.0)
    else:
        sample = random_affine(pick[0], size, cfg, rng)
    if cfg.hue or cfg.saturation or cfg.value:
        sample = Sample(hsv_jitter(sample.image, cfg, rng), sample.xyxy, sample.labels)
    if rng.random() < cfg.flip_lr:
        sample = flip_lr(sample)
    return sample
