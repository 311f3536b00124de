"""The worst boxes of an evaluation, in one PNG: the largest missed objects and the most confident false ones.

mAP says how much is wrong; the gallery shows what. Predictions at or above
``conf`` are matched one-to-one to ground truth of the same class with IoU at
least ``iou`` (highest IoU first). A labelled box left unmatched is *missed*; a
prediction left unmatched is *false*. Missed boxes are ranked by size (a big
object missed is the worst miss), false ones by confidence. Each is shown as a
crop of its image with some context around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.preview import Image, Placement, caption, draw_box, fit_tile, grid, write_png
from edgeloop.evaluate.confusion import match_pairs, pairwise_iou
from edgeloop.imaging import read_image
from edgeloop.optional import require_opencv
from edgeloop.types import Detections

GALLERY = "worst_boxes.png"
TILE = 192
COLUMNS = 6
HEADER = 30
MISSED_BGR = (0, 0, 255)  # red
FALSE_BGR = (255, 0, 255)  # magenta


@dataclass(frozen=True)
class Case:
    """One missed or false box.

    Attributes:
        kind: ``missed`` (a label nothing matched) or ``false`` (a prediction that matched no label).
        item: the dataset item it is in.
        xyxy: the box, in the item's image pixels.
        class_id: its class (the label's, or the prediction's).
        confidence: a false box's confidence; for a missed box, 0.
        note: what overlaps it instead, e.g. "found as circle 0.62", "is circle", "duplicate".
    """

    kind: Literal["missed", "false"]
    item: Item
    xyxy: tuple[float, float, float, float]
    class_id: int
    confidence: float
    note: str = ""


def _note(
    overlap: np.ndarray, other_classes: np.ndarray, mine: int, names: Sequence[str], iou: float, label: str
) -> str:
    """Name the best-overlapping box of another class (or of the same class: a duplicate)."""
    if not overlap.size or overlap.max() < iou:
        return ""
    best = int(overlap.argmax())
    other = int(other_classes[best])
    return "duplicate" if other == mine else f"{label} {names[other]}"


def _box(row: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in row)
    return x1, y1, x2, y2


def image_cases(item: Item, pred: Detections, names: Sequence[str], conf: float, iou: float) -> list[Case]:
    """The missed labels and false predictions of one image."""
    truth = item.detections if item.detections is not None else Detections.empty(names)
    kept = pred.filter(min_confidence=conf)
    overlap = pairwise_iou(truth.xyxy, kept.xyxy)  # (T, P)
    same = truth.class_id[:, None] == kept.class_id[None, :]
    pairs = match_pairs(np.where(same, overlap, 0.0), iou)
    matched_t, matched_p = {t for t, _ in pairs}, {p for _, p in pairs}
    cases = []
    for t in sorted(set(range(len(truth))) - matched_t):
        cls = int(truth.class_id[t])
        note = _note(overlap[t], kept.class_id, -1, names, iou, "found as")
        cases.append(Case("missed", item, _box(truth.xyxy[t]), cls, 0.0, note))
    for p in sorted(set(range(len(kept))) - matched_p):
        cls = int(kept.class_id[p])
        note = _note(overlap[:, p], truth.class_id, cls, names, iou, "is")
        cases.append(Case("false", item, _box(kept.xyxy[p]), cls, float(kept.confidence[p]), note))
    return cases


def worst_cases(
    dataset: Dataset, predictions: Sequence[Detections], conf: float = 0.25, iou: float = 0.5, limit: int = 24
) -> tuple[list[Case], int, int]:
    """Up to ``limit`` worst cases (half missed, half false, when there are enough of each).

    Returns:
        The cases, missed first, and the total number of missed and of false boxes.
    """
    cases = [
        case
        for item, pred in zip(dataset.items, predictions, strict=True)
        for case in image_cases(item, pred, dataset.names, conf, iou)
    ]
    missed = sorted(
        (c for c in cases if c.kind == "missed"),
        key=lambda c: -(c.xyxy[2] - c.xyxy[0]) * (c.xyxy[3] - c.xyxy[1]),
    )
    false = sorted((c for c in cases if c.kind == "false"), key=lambda c: -c.confidence)
    take_missed = min(len(missed), max(limit // 2, limit - len(false)))
    take_false = min(len(false), limit - take_missed)
    return missed[:take_missed] + false[:take_false], len(missed), len(false)


def _crop(image: Image, xyxy: tuple[float, float, float, float]) -> tuple[Image, tuple[int, int]]:
    """The box with half its size (at least 24 px) of context on each side, clipped to the image."""
    x1, y1, x2, y2 = xyxy
    pad_x, pad_y = max(24.0, (x2 - x1) / 2), max(24.0, (y2 - y1) / 2)
    height, width = image.shape[:2]
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(width, int(np.ceil(x2 + pad_x))), min(height, int(np.ceil(y2 + pad_y)))
    return image[top:bottom, left:right], (left, top)


def gallery_image(
    cases: Sequence[Case], names: Sequence[str], title: str, tile: int = TILE
) -> tuple[Image, list[Placement]]:
    """The cases as tiles under a title; each placement maps its item's image pixels into the gallery."""
    cv2 = require_opencv("the evaluation gallery", "data")
    cells, fits = [], []
    images: dict[Path, Image] = {}
    for case in cases:
        if case.item.image not in images:
            images[case.item.image] = read_image(case.item.image)
        crop, (left, top) = _crop(images[case.item.image], case.xyxy)
        cell, scale, (ox, oy) = fit_tile(crop, tile)
        offset = (ox - left * scale, oy - top * scale)
        box = np.asarray(case.xyxy) * scale + np.tile(offset, 2)
        colour = MISSED_BGR if case.kind == "missed" else FALSE_BGR
        score = f" {case.confidence:.2f}" if case.kind == "false" else ""
        draw_box(cell, box.tolist(), colour, f"{case.kind} {names[case.class_id]}{score}")
        text = f"{case.note}: {case.item.name}" if case.note else case.item.name
        cells.append(caption(cell, text))
        fits.append((scale, offset))
    if not cells:
        cells = [
            caption(np.full((tile, tile * 3, 3), (40, 40, 40), np.uint8), "nothing missed, nothing false")
        ]
    canvas, origins = grid(cells, min(COLUMNS, len(cells)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    needed = cv2.getTextSize(title, font, 0.5, 1)[0][0] + 12
    if canvas.shape[1] < needed:  # few tiles: widen so the title fits
        pad = np.full((canvas.shape[0], needed - canvas.shape[1], 3), (40, 40, 40), np.uint8)
        canvas = np.hstack([canvas, pad])
    header = np.full((HEADER, canvas.shape[1], 3), (20, 20, 20), np.uint8)
    cv2.putText(header, title, (6, HEADER - 10), font, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
    placements = [
        Placement(case.item, (x, y + HEADER), scale, offset)
        for case, (x, y), (scale, offset) in zip(cases, origins, fits, strict=False)
    ]
    return np.vstack([header, canvas]), placements


def worst_boxes_png(
    dataset: Dataset,
    predictions: Sequence[Detections],
    path: Path,
    conf: float = 0.25,
    iou: float = 0.5,
    limit: int = 24,
) -> Path:
    """Write the gallery of the worst missed and false boxes to ``path``."""
    cases, missed, false = worst_cases(dataset, predictions, conf, iou, limit)
    title = (
        f"worst of {missed} missed (red) and {false} false (magenta) boxes; conf {conf:g}, IoU {iou:g}, "
        f"same class"
    )
    image, _ = gallery_image(cases, dataset.names, title)
    return write_png(image, path)
