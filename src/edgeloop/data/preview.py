"""Look at the labels: a sample of images with their boxes (or class) drawn, in one grid PNG.

Drawn with OpenCV, as ``edgeloop dataset stats --plot`` is, so no plotting library
is needed. The tile and grid helpers here also lay out ``edgeloop eval``'s gallery
of missed and false boxes.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset, Item
from edgeloop.errors import DatasetError
from edgeloop.imaging import read_image
from edgeloop.optional import require_opencv

Image = npt.NDArray[np.uint8]  # H x W x 3, BGR
TILE = 256  # pixels per tile side
CAPTION = 22  # pixels of caption under each tile
GAP = 4
BACKGROUND = (40, 40, 40)


@dataclass(frozen=True)
class Placement:
    """Where an item's image landed in a grid: grid pixel = tile origin + offset + image pixel * scale."""

    item: Item
    origin_xy: tuple[int, int]
    scale: float
    offset_xy: tuple[float, float]

    def to_grid(self, xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(N, 4) pixel xyxy boxes of the item's image -> (N, 4) xyxy in the grid image."""
        shift = np.asarray(self.origin_xy, np.float64) + np.asarray(self.offset_xy, np.float64)
        return np.asarray(xyxy, np.float64).reshape(-1, 4) * self.scale + np.tile(shift, 2)


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour per class (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb(class_id * 0.618033988749895 % 1.0, 0.85, 0.95)
    return round(b * 255), round(g * 255), round(r * 255)


def fit_tile(image: Image, size: int) -> tuple[Image, float, tuple[int, int]]:
    """``image`` scaled to fit a ``size`` x ``size`` tile, centred: (tile, scale, offset_xy)."""
    cv2 = require_opencv("dataset previews", "data")
    height, width = image.shape[:2]
    scale = min(size / width, size / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    tile = np.full((size, size, 3), BACKGROUND, np.uint8)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    tile[top : top + new_h, left : left + new_w] = resized
    return tile, scale, (left, top)


def draw_box(canvas: Image, xyxy: Sequence[float], colour: tuple[int, int, int], label: str = "") -> None:
    """Draw one box (2 px, solid ``colour``) and a filled label above it (below when at the top)."""
    cv2 = require_opencv("dataset previews", "data")
    x1, y1, x2, y2 = (round(v) for v in xyxy)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2, cv2.LINE_8)
    if not label:
        return
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (tw, th), base = cv2.getTextSize(label, font, size, 1)
    top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y2 + 1
    cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
    dark = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    cv2.putText(canvas, label, (x1 + 2, top + th + 1), font, size, dark, 1, cv2.LINE_AA)


def caption(tile: Image, text: str, colour: tuple[int, int, int] = (230, 230, 230)) -> Image:
    """``tile`` with a dark band of ``CAPTION`` pixels underneath holding ``text`` (cut to fit)."""
    cv2 = require_opencv("dataset previews", "data")
    band = np.full((CAPTION, tile.shape[1], 3), (20, 20, 20), np.uint8)
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    while len(text) > 1 and cv2.getTextSize(text, font, size, 1)[0][0] > tile.shape[1] - 6:
        text = "~" + text[2:]  # keep the end: file names differ there
    cv2.putText(band, text, (3, CAPTION - 7), font, size, colour, 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def grid(cells: Sequence[Image], columns: int) -> tuple[Image, list[tuple[int, int]]]:
    """Cells of equal size laid out row by row: (grid image, each cell's top-left xy)."""
    height, width = cells[0].shape[:2]
    rows = math.ceil(len(cells) / columns)
    canvas = np.full((rows * (height + GAP) + GAP, columns * (width + GAP) + GAP, 3), BACKGROUND, np.uint8)
    origins = []
    for index, cell in enumerate(cells):
        x = GAP + (index % columns) * (width + GAP)
        y = GAP + (index // columns) * (height + GAP)
        canvas[y : y + height, x : x + width] = cell
        origins.append((x, y))
    return canvas, origins


def sample(ds: Dataset, count: int, seed: int = 0) -> list[Item]:
    """``count`` items picked at random (the same seed gives the same pick), in dataset order."""
    if count >= len(ds):
        return list(ds.items)
    picked = np.random.default_rng(seed).choice(len(ds), size=count, replace=False)
    return [ds.items[i] for i in sorted(picked.tolist())]


def preview_grid(
    ds: Dataset, count: int = 16, seed: int = 0, tile: int = TILE
) -> tuple[Image, list[Placement]]:
    """A grid of ``count`` sampled images with their labels drawn, and where each image landed.

    Raises:
        DatasetError: the dataset has no images.
    """
    if not len(ds):
        raise DatasetError("the dataset has no images to preview")
    items = sample(ds, count, seed)
    cells, fits = [], []
    for item in items:
        tile_image, scale, offset = fit_tile(read_image(item.image), tile)
        if item.detections is not None:
            boxes = item.detections.xyxy.astype(np.float64) * scale + np.tile(offset, 2)
            for xyxy, cls in zip(boxes.tolist(), item.detections.class_id.tolist(), strict=True):
                draw_box(tile_image, xyxy, class_colour(cls), ds.names[cls])
        text, colour = item.name, (230, 230, 230)
        if item.label is not None:  # classification: the class is the label; class folders name it already
            name = ds.names[item.label]
            text = text if text.startswith(f"{name}/") else f"{name}: {text}"
            colour = class_colour(item.label)
        cells.append(caption(tile_image, text, colour))
        fits.append((scale, offset))
    canvas, origins = grid(cells, math.ceil(math.sqrt(len(cells))))
    placements = [
        Placement(item, origin, scale, offset)
        for item, origin, (scale, offset) in zip(items, origins, fits, strict=True)
    ]
    return canvas, placements


def write_png(image: Image, path: str | Path) -> Path:
    """Encode ``image`` as PNG at ``path`` (folders created).

    Raises:
        DatasetError: OpenCV could not encode the image.
    """
    cv2 = require_opencv("dataset previews", "data")
    path = Path(path)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise DatasetError(f"{path}: could not encode the PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return path
