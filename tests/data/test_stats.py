"""`dataset stats`: the counts are right and the PNG is a real chart."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.data.formats import save_dataset
from edgeloop.data.stats import compute_stats, plot_stats
from tests.conftest import run_cli

NAMES = ("cat", "dog", "bird")


def _image(path: Path, w: int, h: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return path


def known(tmp_path: Path) -> Dataset:
    """Box sizes (sqrt of area share): 0.01, 0.1, 0.5, 1.0, 0.1; bird has none; one image has no boxes."""
    return Dataset(
        NAMES,
        (
            Item(
                _image(tmp_path / "r" / "a.png", 100, 100),
                "a.png",
                (100, 100),
                labelled_boxes([[0, 0, 1, 1], [10, 10, 20, 20], [0, 0, 50, 50]], [0, 0, 1], NAMES),
            ),
            Item(
                _image(tmp_path / "r" / "b.png", 100, 100),
                "b.png",
                (100, 100),
                labelled_boxes([[0, 0, 100, 100], [5, 5, 15, 15]], [0, 0], NAMES),
            ),
            Item(
                _image(tmp_path / "r" / "c.png", 200, 50), "c.png", (200, 50), labelled_boxes([], [], NAMES)
            ),
        ),
    )


def test_counts(tmp_path: Path) -> None:
    stats = compute_stats(known(tmp_path))
    assert [(c.name, c.instances, c.images) for c in stats.classes] == [
        ("cat", 4, 2),
        ("dog", 1, 1),
        ("bird", 0, 0),
    ]
    assert (stats.images, stats.boxes, stats.images_without_boxes) == (3, 5, 1)
    # bins: 0-.02, .02-.05, .05-.1, .1-.2, .2-.4, .4-.7, .7-1
    assert stats.size_counts == (1, 0, 0, 2, 0, 1, 1)
    assert stats.image_sizes == {"100x100": 2, "200x50": 1}


def test_classification_counts(tmp_path: Path) -> None:
    items = tuple(Item(tmp_path / f"{i}.png", f"{i}.png", (8, 8), label=i % 3 // 2) for i in range(9))
    stats = compute_stats(Dataset(("a", "b"), items, "classify"))
    assert [(c.instances, c.images) for c in stats.classes] == [(6, 6), (3, 3)]
    assert stats.boxes == 0 and sum(stats.size_counts) == 0


def test_plot_is_a_real_png(tmp_path: Path) -> None:
    path = tmp_path / "stats.png"
    plot_stats(compute_stats(known(tmp_path)), path)
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (440, 1000, 3)
    blue = (image[:, :, 0] > 150) & (image[:, :, 2] < 80)  # the bar colour
    left, right = blue[:, :500], blue[:, 500:]
    # cat's bar (4) is four times dog's (1); bird draws nothing: three columns of bars -> two have pixels.
    cols = [left[:, x0:x1].sum() for x0, x1 in ((20, 173), (173, 327), (327, 480))]
    assert cols[0] == 4 * cols[1] or abs(cols[0] - 4 * cols[1]) < 0.05 * cols[0]
    assert cols[2] < cols[1] / 10
    assert right.sum() > 0


def test_cli_text_json_and_plot(tmp_path: Path) -> None:
    save_dataset(known(tmp_path), tmp_path / "y", "yolo")
    result = run_cli("dataset", "stats", str(tmp_path / "y"), "--plot", str(tmp_path / "s.png"), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["classes"][0] == {"name": "cat", "instances": 4, "images": 2}
    assert doc["size_counts"] == [1, 0, 0, 2, 0, 1, 1] and doc["defects"] == 0
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    text = run_cli("dataset", "stats", str(tmp_path / "y")).stdout.splitlines()
    assert text[0].endswith("3 images, 5 boxes, 3 classes, 1 images without boxes")
    assert "cat            4       2  " + "#" * 30 in text
    assert "dog            1       1  " + "#" * 8 in text and "bird           0       0" in text
    assert "  0.10-0.20        2  " + "#" * 30 in text
