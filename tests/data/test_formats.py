"""Every dataset format round-trips, converts to every other, and fails clearly."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.data import Dataset, Item
from edgeloop.data.dataset import labelled_boxes
from edgeloop.data.formats import FORMATS, detect_format, get_format, load_dataset, save_dataset
from edgeloop.errors import DatasetError

DETECTION_FORMATS = ["yolo", "coco", "voc", "labelstudio", "cvat"]
NAMES = ("cat", "dog", "traffic light")


def _image(path: Path, size_wh: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size_wh[1], size_wh[0], 3), 90, np.uint8))
    return path


@pytest.fixture()
def detection_set(tmp_path: Path) -> Dataset:
    """Three images of different sizes: sub-pixel boxes, an image with no boxes, a JPEG."""
    src = tmp_path / "raw"
    items = (
        Item(
            _image(src / "a.png", (640, 480)),
            "a.png",
            (640, 480),
            labelled_boxes([[10.25, 20.5, 100.125, 200.75], [0, 0, 640, 480]], [0, 2], NAMES),
        ),
        Item(_image(src / "b.png", (320, 240)), "b.png", (320, 240), labelled_boxes([], [], NAMES)),
        Item(
            _image(src / "c.jpg", (333, 517)),
            "c.jpg",
            (333, 517),
            labelled_boxes([[1.001, 2.002, 300.3, 500.5]], [1], NAMES),
        ),
    )
    return Dataset(NAMES, items, "detect")


@pytest.fixture()
def classification_set(tmp_path: Path) -> Dataset:
    src = tmp_path / "raw-cls"
    items = tuple(
        Item(_image(src / f"{n}{i}.png", (32, 24)), f"{n}/{n}{i}.png", (32, 24), label=label)
        for label, n in enumerate(["ant", "bee"])
        for i in range(2)
    )
    return Dataset(("ant", "bee"), items, "classify")


@pytest.mark.parametrize("fmt", DETECTION_FORMATS)
def test_detection_round_trip(fmt: str, detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / fmt, fmt)
    loaded = load_dataset(tmp_path / fmt)
    assert loaded.same_as(detection_set)
    assert loaded.names == NAMES
    assert all(item.image.is_file() for item in loaded.items)


def test_folders_round_trip(classification_set: Dataset, tmp_path: Path) -> None:
    save_dataset(classification_set, tmp_path / "cls", "folders")
    assert sorted(p.name for p in (tmp_path / "cls").iterdir()) == ["ant", "bee"]
    loaded = load_dataset(tmp_path / "cls")
    assert loaded.task == "classify"
    assert loaded.same_as(classification_set)


@pytest.mark.parametrize(("src_fmt", "dst_fmt"), list(itertools.permutations(DETECTION_FORMATS, 2)))
def test_conversions_preserve_boxes(
    src_fmt: str, dst_fmt: str, detection_set: Dataset, tmp_path: Path
) -> None:
    save_dataset(detection_set, tmp_path / "src", src_fmt)
    save_dataset(load_dataset(tmp_path / "src"), tmp_path / "dst", dst_fmt)
    converted = load_dataset(tmp_path / "dst")
    assert converted.same_as(detection_set, atol_px=1e-3)
    box = next(i for i in converted.items if i.name == "a.png").detections
    assert box is not None
    np.testing.assert_allclose(box.xyxy[0], [10.25, 20.5, 100.125, 200.75], atol=1e-3)


@pytest.mark.parametrize("fmt", [*DETECTION_FORMATS, "folders"])
def test_auto_detect(fmt: str, detection_set: Dataset, classification_set: Dataset, tmp_path: Path) -> None:
    ds = classification_set if fmt == "folders" else detection_set
    save_dataset(ds, tmp_path / "out", fmt)
    assert detect_format(tmp_path / "out") == fmt
    for other in FORMATS.names():
        assert get_format(other).detect(tmp_path / "out") == (other == fmt)


def test_unknown_format_names_the_choices(detection_set: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset format 'pascal': choose one of yolo, coco, voc"):
        save_dataset(detection_set, tmp_path / "out", "pascal")


def test_unrecognised_folder_says_what_layouts_are_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="not a recognised dataset.*data.yaml.*pass --from"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such dataset folder"):
        load_dataset(tmp_path / "missing")


def test_missing_image_folder(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: [a]\n")
    with pytest.raises(DatasetError, match="no images/ folder; a YOLO dataset keeps its images in images/"):
        load_dataset(tmp_path)


def test_missing_image_named_in_labels(detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "coco", "coco")
    (tmp_path / "coco" / "images" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"b\.png: image not found; add it or remove it from the JSON"):
        load_dataset(tmp_path / "coco")


def test_bad_yolo_label_line_is_located(detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "y", "yolo")
    (tmp_path / "y" / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n1 0.5 oops\n")
    with pytest.raises(DatasetError, match=r"a\.txt:2: expected 'class cx cy w h'"):
        load_dataset(tmp_path / "y")


def test_yolo_names_as_mapping(detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "y", "yolo")
    (tmp_path / "y" / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n  2: traffic light\n")
    assert load_dataset(tmp_path / "y").same_as(detection_set)


@pytest.mark.parametrize(
    "declaration", [b"<!DOCTYPE a [<!ENTITY x 'y'>]>", b"<!ENTITY x SYSTEM 'file:///etc/passwd'>"]
)
def test_voc_refuses_dtd_and_entities(declaration: bytes, detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "voc", "voc")
    xml = tmp_path / "voc" / "Annotations" / "a.xml"
    xml.write_bytes(declaration + b"<annotation><filename>a.png</filename></annotation>")
    with pytest.raises(DatasetError, match="no DTD or entities"):
        load_dataset(tmp_path / "voc")


def test_voc_without_labels_file_orders_classes_by_first_use(detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "voc", "voc")
    (tmp_path / "voc" / "labels.txt").unlink()
    assert load_dataset(tmp_path / "voc").names == ("cat", "traffic light", "dog")


def test_save_refuses_a_non_empty_folder_and_wrong_task(
    detection_set: Dataset, classification_set: Dataset, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(DatasetError, match="not empty: choose a new output folder"):
        save_dataset(detection_set, tmp_path / "out", "coco")
    with pytest.raises(DatasetError, match="holds classify datasets, this one is detect: save as coco, yolo"):
        save_dataset(detection_set, tmp_path / "cls", "folders")
    with pytest.raises(DatasetError, match="holds detect datasets, this one is classify: save as folders"):
        save_dataset(classification_set, tmp_path / "det", "yolo")
    assert not (tmp_path / "cls").exists() and not (tmp_path / "det").exists()


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "ant").mkdir()
    (tmp_path / "ant" / "x.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"x\.png: not a supported image.*replace or remove this image"):
        load_dataset(tmp_path, "folders")


def test_yolo_class_outside_names_is_refused(detection_set: Dataset, tmp_path: Path) -> None:
    save_dataset(detection_set, tmp_path / "y", "yolo")
    (tmp_path / "y" / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n\n3 0.5 0.5 0.1 0.1\n")
    message = r"a\.txt:3: class 3 is not one of the 3 names in data.yaml \(0\.\.2\); fix the label"
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path / "y")
