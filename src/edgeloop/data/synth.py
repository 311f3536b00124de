"""A deterministic synthetic detection set: coloured shapes on textured backgrounds.

The zero-data start and the test fixture. Same seed, same size, same count: the
same pixels and boxes, because only numpy's seeded generator and OpenCV drawing
are involved and images are saved as lossless PNG.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeloop.data.dataset import Dataset, Item, labelled_boxes, new_output_dir
from edgeloop.errors import DatasetError
from edgeloop.imaging import ImageArray

SHAPES = ("square", "circle", "triangle")
MAX_OBJECTS = 4


def _background(rng: np.random.Generator, size: int) -> ImageArray:
    """(size, size, 3) uint8: a colour gradient with blurred noise, so shapes are not on a flat field."""
    base = rng.integers(40, 200, 3).astype(np.float32)
    ramp = np.linspace(-30, 30, size, dtype=np.float32)
    gradient = ramp[None, :, None] * rng.uniform(-1, 1, 3).astype(np.float32) + ramp[:, None, None] * 0.5
    noise = rng.normal(0, 25, (size, size, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=float(rng.uniform(0.8, 3.0)))
    return np.clip(base + gradient + noise, 0, 255).astype(np.uint8)


def _draw(image: ImageArray, rng: np.random.Generator, shape: int) -> list[float]:
    """Draw one shape and return its xyxy box in pixels."""
    size = image.shape[0]
    half = float(rng.uniform(0.06, 0.2) * size)
    cx, cy = (float(v) for v in rng.uniform(half, size - half, 2))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if SHAPES[shape] == "square":
        x1, y1, x2, y2 = round(cx - half), round(cy - half), round(cx + half), round(cy + half)
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, thickness=-1)
        return [x1, y1, x2, y2]
    if SHAPES[shape] == "circle":
        x, y, r = round(cx), round(cy), round(half)
        cv2.circle(image, (x, y), r, colour, thickness=-1, lineType=cv2.LINE_8)
        return [x - r, y - r, x + r + 1, y + r + 1]
    points = np.array(
        [
            [round(cx), round(cy - half)],
            [round(cx - half), round(cy + half)],
            [round(cx + half), round(cy + half)],
        ],
        np.int32,
    )
    cv2.fillPoly(image, [points], colour)
    x_min, y_min = (float(v) for v in points.min(axis=0))
    x_max, y_max = (float(v) for v in points.max(axis=0))
    return [x_min, y_min, x_max + 1, y_max + 1]


def synth_detection(out: Path, images: int = 100, size: int = 320, seed: int = 0) -> Dataset:
    """Write a YOLO detection dataset of ``images`` PNGs of ``size`` x ``size`` pixels to a new folder.

    Later shapes may partly cover earlier ones; their boxes are kept whole.

    Raises:
        DatasetError: bad counts or sizes, or ``out`` is not a new folder.
    """
    if images < 1 or not 32 <= size <= 4096:
        raise DatasetError("synth needs --images >= 1 and --size between 32 and 4096")
    from edgeloop.data.formats.yolo import write_annotations

    new_output_dir(out)
    (out / "images").mkdir()
    rng = np.random.default_rng(seed)
    items = []
    for index in range(images):
        image = _background(rng, size)
        count = int(rng.integers(1, MAX_OBJECTS + 1))
        classes = [int(c) for c in rng.integers(0, len(SHAPES), count)]
        boxes = [_draw(image, rng, c) for c in classes]
        name = f"synth_{index:05d}.png"
        if not cv2.imwrite(str(out / "images" / name), image):
            raise DatasetError(f"{out / 'images' / name}: could not write the image; check free space")
        detections = labelled_boxes(boxes, classes, SHAPES)
        items.append(Item(out / "images" / name, name, (size, size), detections))
    ds = Dataset(SHAPES, tuple(items), "detect")
    write_annotations(ds, out)
    return ds
