"""Datasets on disk whose scores under the colour detector are known exactly.

The colour detector (tests/conftest.py) finds each pure red, green or blue
rectangle aligned to its 32 px grid as one box of that colour. On 640x640
images there is no letterbox, so its boxes are the drawn rectangles.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.data.dataset import Dataset, Item, labelled_boxes
from edgeloop.data.formats import save_dataset

COLOURS_BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
MODEL_NAMES = ("red", "green", "blue")

# Per class (ap50, ap50_95):
# red: drawn and labelled exactly -> (1, 1).
# green: one drawn and labelled, one labelled but not drawn (never found): recall stops
#   at 0.5, so 51 of COCO's 101 recall points have precision 1 -> 51/101 at every IoU.
# blue: labelled 30 px right of where it is drawn: IoU 98/158 = 0.62 matches at
#   thresholds 0.50, 0.55, 0.60 only -> (1, 0.3).
EXPECTED = {"red": (1.0, 1.0), "green": (51 / 101, 51 / 101), "blue": (1.0, 0.3)}
EXPECTED_MAP50 = float(np.mean([v[0] for v in EXPECTED.values()]))
EXPECTED_MAP50_95 = float(np.mean([v[1] for v in EXPECTED.values()]))


def _image(path: Path, rects: list[tuple[str, list[int]]]) -> Path:
    image = np.full((640, 640, 3), 128, np.uint8)
    for colour, (x1, y1, x2, y2) in rects:
        image[y1:y2, x1:x2] = COLOURS_BGR[colour]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)  # PNG: lossless, so the colours stay pure
    return path


def colour_dataset(root: Path, names: tuple[str, ...] = MODEL_NAMES) -> Dataset:
    """Four images: red (exact), green (one found, one missed), blue (label shifted), and an empty one."""
    drawn = [
        [("red", [64, 64, 192, 192])],
        [("green", [320, 96, 448, 256])],
        [("blue", [64, 64, 192, 192])],
        [],
    ]
    labels = [
        [("red", [64, 64, 192, 192])],
        [("green", [320, 96, 448, 256]), ("green", [32, 384, 160, 512])],
        [("blue", [94, 64, 222, 192])],
        [],
    ]
    items = []
    for i, (rects, boxes) in enumerate(zip(drawn, labels, strict=True)):
        image = _image(root / "src" / f"im{i}.png", rects)
        det = labelled_boxes([b for _, b in boxes], [names.index(c) for c, _ in boxes], names)
        items.append(Item(image, f"im{i}.png", (640, 640), det))
    return Dataset(names, tuple(items))


@pytest.fixture(scope="session")
def colour_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The colour dataset saved in YOLO format."""
    root = tmp_path_factory.mktemp("colour")
    save_dataset(colour_dataset(root), root / "yolo", "yolo")
    return root / "yolo"


@pytest.fixture(scope="session")
def colour_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Class folders (sorted: blue, green, red) of solid-colour images; one blue image filed under green."""
    root = tmp_path_factory.mktemp("folders")
    counts = {"red": 3, "green": 2, "blue": 1}
    for colour, n in counts.items():
        for i in range(n):
            _image(root / colour / f"{colour}{i}.png", [(colour, [0, 0, 640, 640])])
    _image(root / "green" / "mislabelled.png", [("blue", [0, 0, 640, 640])])
    return root
