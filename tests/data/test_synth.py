"""The synthetic dataset and the ``edgeloop dataset`` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import SHAPES, synth_detection
from edgeloop.errors import DatasetError
from tests.conftest import run_cli


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_is_deterministic_per_seed(tmp_path: Path) -> None:
    synth_detection(tmp_path / "a", images=4, size=96, seed=3)
    synth_detection(tmp_path / "b", images=4, size=96, seed=3)
    synth_detection(tmp_path / "c", images=4, size=96, seed=4)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_synth_loads_back_with_boxes_inside_the_image(tmp_path: Path) -> None:
    made = synth_detection(tmp_path / "s", images=6, size=128, seed=0)
    loaded = load_dataset(tmp_path / "s")
    assert loaded.same_as(made)
    assert loaded.names == SHAPES
    for item in loaded.items:
        assert item.detections is not None and len(item.detections) >= 1
        xyxy = item.detections.xyxy
        assert (xyxy >= 0).all() and (xyxy <= 128).all()
        assert (xyxy[:, 2:] > xyxy[:, :2]).all()


def test_synth_boxes_fit_the_drawn_shape(tmp_path: Path) -> None:
    """A shape drawn alone: its pixels differ from the background only inside its box."""
    import cv2

    made = synth_detection(tmp_path / "s", images=20, size=96, seed=1)
    item = next(i for i in made.items if i.detections is not None and len(i.detections) == 1)
    assert item.detections is not None
    image = cv2.imread(str(item.image))
    x1, y1, x2, y2 = item.detections.xyxy[0].astype(int)
    inside = image[y1:y2, x1:x2]
    colours, counts = np.unique(inside.reshape(-1, 3), axis=0, return_counts=True)
    fill = colours[counts.argmax()]
    mask = (image == fill).all(axis=2)
    ys, xs = np.nonzero(mask)
    assert xs.min() >= x1 and xs.max() < x2 and ys.min() >= y1 and ys.max() < y2


def test_synth_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="--images >= 1"):
        synth_detection(tmp_path / "s", images=0)


def test_cli_synth_and_convert(tmp_path: Path) -> None:
    made = run_cli("dataset", "synth", str(tmp_path / "s"), "--images", "3", "--size", "64", "--seed", "7")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(tmp_path / "s")
    assert "wrote 3 images" in made.stderr
    converted = run_cli("dataset", "convert", str(tmp_path / "s"), str(tmp_path / "c"), "--to", "coco")
    assert converted.returncode == 0, converted.stderr
    assert "from yolo to coco" in converted.stderr
    assert load_dataset(tmp_path / "c").same_as(load_dataset(tmp_path / "s"))


def test_cli_errors_are_one_line_with_exit_1(tmp_path: Path) -> None:
    result = run_cli("dataset", "convert", str(tmp_path / "missing"), str(tmp_path / "c"), "--to", "coco")
    assert result.returncode == 1
    assert "error:" in result.stderr and "no such dataset folder" in result.stderr
    result = run_cli("dataset", "convert", str(tmp_path), str(tmp_path / "c"), "--to", "parquet")
    assert result.returncode == 1
    assert "unknown dataset format 'parquet': choose one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_dataset_modules_work_without_torch(tmp_path: Path) -> None:
    from tests.test_torch_blocked import run_blocked

    code = f"""
from pathlib import Path
from edgeloop.data.formats import FORMATS, get_format, load_dataset, save_dataset
from edgeloop.data.synth import synth_detection
for name in FORMATS.names():
    get_format(name)
root = Path({str(tmp_path)!r})
save_dataset(synth_detection(root / "s", images=2, size=64), root / "c", "coco")
print(len(load_dataset(root / "c")))
assert "torch" not in sys.modules
"""
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_synth_classes_option_and_occlusion_limit(tmp_path: Path) -> None:
    from edgeloop.data.synth import MAX_COVER

    made = synth_detection(tmp_path / "s", images=30, size=128, seed=2, classes=("star", "hexagon"))
    assert made.names == ("star", "hexagon")
    for item in made.items:
        assert item.detections is not None
        boxes = item.detections.xyxy
        assert (boxes >= 0).all() and (boxes <= 128).all()
        for later in range(len(boxes)):
            for earlier in range(later):
                a, b = boxes[later], boxes[earlier]
                w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
                h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
                assert w * h <= MAX_COVER * (b[2] - b[0]) * (b[3] - b[1]) + 1e-6
    with pytest.raises(DatasetError, match="distinct shapes"):
        synth_detection(tmp_path / "t", images=2, classes=("square", "dodecahedron"))


def test_synth_classification_loads_back_as_class_folders(tmp_path: Path) -> None:
    from edgeloop.data.synth import synth_classification

    made = synth_classification(tmp_path / "c", images=9, size=64, seed=0)
    loaded = load_dataset(tmp_path / "c")
    assert loaded.task == "classify" and loaded.same_as(made)
    assert sorted(loaded.names) == list(loaded.names)
    assert [sum(i.label == k for i in loaded.items) for k in range(3)] == [3, 3, 3]
    result = run_cli("dataset", "synth", str(tmp_path / "d"), "--task", "classify", "--images", "3")
    assert result.returncode == 0 and "class folders" in result.stderr
