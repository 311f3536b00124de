"""`edgeloop dataset preview`: a grid PNG with every sampled image's labels drawn where they are."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.data.dataset import Dataset, Item, labelled_boxes
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.data.preview import Placement, class_colour, preview_grid
from edgeloop.data.synth import synth_classification
from tests.conftest import run_cli

NAMES = ("cat", "dog")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def boxes_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six plain grey images of different sizes, each with two labelled boxes that do not overlap."""
    root = tmp_path_factory.mktemp("preview")
    items = []
    for i in range(6):
        width, height = 320 + 40 * i, 240 + 30 * (i % 3)
        path = root / "src" / f"im{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
        boxes = [[20 + 5 * i, 60, 120, 180], [180, 40 + 4 * i, 300, 200]]
        items.append(
            Item(path, f"im{i}.png", (width, height), labelled_boxes(boxes, [i % 2, 1 - i % 2], NAMES))
        )
    save_dataset(Dataset(NAMES, tuple(items)), root / "yolo", "yolo")
    return root / "yolo"


def _assert_boxes_drawn(grid: np.ndarray, placements: list[Placement]) -> int:
    """Every label's left edge, at its middle, is painted in its class colour in the grid."""
    checked = 0
    for placed in placements:
        det = placed.item.detections
        assert det is not None
        for (x1, y1, _, y2), cls in zip(placed.to_grid(det.xyxy), det.class_id.tolist(), strict=True):
            x, y = round(x1), round((y1 + y2) / 2)
            assert tuple(grid[y, x]) == class_colour(cls), (placed.item.name, cls)
            assert tuple(grid[y, x + 10]) == (128, 128, 128)  # inside the box: the image, untouched
            checked += 1
    return checked


def test_preview_draws_every_label_where_it_is(boxes_yolo: Path) -> None:
    ds = load_dataset(boxes_yolo)
    grid, placements = preview_grid(ds, count=4, seed=1)
    assert len(placements) == 4 and len({p.item.name for p in placements}) == 4
    assert _assert_boxes_drawn(grid, placements) == 8


def test_preview_cli_writes_the_grid(boxes_yolo: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    result = run_cli("dataset", "preview", str(boxes_yolo), "--out", str(out), "--n", "4", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "4 of 6 images" in result.stderr and "8 boxes" in result.stderr
    width, height = png_size(out)
    assert 2 * 256 <= width <= 2 * 256 + 40 and 2 * 256 <= height <= 2 * 300
    image = cv2.imread(str(out))
    _, placements = preview_grid(load_dataset(boxes_yolo), count=4, seed=1)  # same seed, same pick
    assert _assert_boxes_drawn(image, placements) == 8


def test_preview_of_a_split_and_of_a_classification_set(tmp_path: Path) -> None:
    synth_classification(tmp_path / "cls" / "train", images=6, size=64, seed=0)
    synth_classification(tmp_path / "cls" / "val", images=3, size=64, seed=1)
    result = run_cli(
        "dataset", "preview", str(tmp_path / "cls"), "--out", str(tmp_path / "g.png"), "--split", "val"
    )
    assert result.returncode == 0, result.stderr
    assert "3 of 3 images (split val)" in result.stderr
    assert png_size(tmp_path / "g.png")[0] >= 2 * 256
    missing = run_cli(
        "dataset", "preview", str(tmp_path / "cls"), "--out", str(tmp_path / "t.png"), "--split", "test"
    )
    assert missing.returncode == 1 and "no test split" in missing.stderr
