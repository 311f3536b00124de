"""Fixtures for optimize tests: a colour-detector bundle and datasets it can be scored on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.data.dataset import Dataset, Item, labelled_boxes
from edgeloop.data.formats import save_dataset
from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import COLOURS, colour_detector

SIZE, CELL = 320, 32
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def colour_dataset(out: Path, images: int, seed: int = 0, blank: bool = False) -> Path:
    """A YOLO dataset of grey 320x320 images holding 1-3 grid-aligned red/green/blue rectangles.

    The colour detector finds exactly these boxes, so FP32 scores mAP 1.0 on it.
    ``blank`` makes all-black images with no labels (a deliberately useless calibration set).
    """
    rng = np.random.default_rng(seed)
    work = out.parent / (out.name + "-src")
    work.mkdir(parents=True)
    items = []
    for index in range(images):
        image = np.zeros((SIZE, SIZE, 3), np.uint8) if blank else np.full((SIZE, SIZE, 3), 128, np.uint8)
        boxes: list[list[float]] = []
        classes: list[int] = []
        occupied = np.zeros((SIZE // CELL, SIZE // CELL), bool)
        for _ in range(0 if blank else int(rng.integers(1, 4))):
            w, h = (int(v) for v in rng.integers(1, 4, 2))
            x, y = int(rng.integers(0, SIZE // CELL - w + 1)), int(rng.integers(0, SIZE // CELL - h + 1))
            # keep a free cell around each rectangle so two never merge into one region
            if occupied[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1].any():
                continue
            occupied[y : y + h, x : x + w] = True
            c = int(rng.integers(0, 3))
            image[y * CELL : (y + h) * CELL, x * CELL : (x + w) * CELL] = BGR[COLOURS[c]]
            boxes.append([x * CELL, y * CELL, (x + w) * CELL, (y + h) * CELL])
            classes.append(c)
        path = work / f"img_{index:03d}.png"
        cv2.imwrite(str(path), image)
        items.append(Item(path, path.name, (SIZE, SIZE), labelled_boxes(boxes, classes, COLOURS)))
    save_dataset(Dataset(tuple(COLOURS), tuple(items)), out, "yolo")
    return out


@pytest.fixture(scope="session")
def colour_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("optimize")
    model = colour_detector(root / "colour.onnx", imgsz=(SIZE, SIZE), stride=CELL, family="yolo")
    return import_onnx(model, root / "bundle")


@pytest.fixture(scope="session")
def colour_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("colour-data")
    return {
        "calib": colour_dataset(root / "calib", 16, seed=1),
        "eval": colour_dataset(root / "eval", 24, seed=2),
        "black": colour_dataset(root / "black", 4, blank=True),
    }
