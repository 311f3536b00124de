"""The gallery of the worst missed and false boxes: which boxes, ranked how, drawn where."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edgeloop.bundle import Bundle
from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import load_dataset
from edgeloop.data.preview import Placement
from edgeloop.evaluate import predict_dataset
from edgeloop.evaluate.gallery import FALSE_BGR, MISSED_BGR, Case, gallery_image, worst_cases
from edgeloop.predictor import Predictor
from edgeloop.types import Detections
from tests.conftest import run_cli
from tests.evaluate.conftest import colour_dataset


def _predict(bundle: Bundle, dataset: Dataset) -> list[Detections]:
    with Predictor(bundle) as predictor:
        return predict_dataset(predictor, dataset, progress=False)


def _unlabel_red(dataset: Dataset) -> Dataset:
    """The red rectangle of im0 stays drawn but loses its label: the model's red box becomes false."""
    first = dataset.items[0]
    assert first.detections is not None
    return replace(dataset, items=(replace(first, detections=first.detections[[]]), *dataset.items[1:]))


def _assert_drawn(image: np.ndarray, cases: list[Case], placements: list[Placement]) -> None:
    """Each case's box is drawn in its colour at its place: left edge, middle row."""
    assert len(placements) == len(cases)
    for case, placed in zip(cases, placements, strict=True):
        x1, y1, _, y2 = placed.to_grid(np.asarray([case.xyxy]))[0]
        colour = MISSED_BGR if case.kind == "missed" else FALSE_BGR
        assert tuple(image[round((y1 + y2) / 2), round(x1)]) == colour, case


def test_worst_cases_finds_the_missed_and_the_false_boxes(yolo_bundle: Bundle, tmp_path: Path) -> None:
    dataset = _unlabel_red(colour_dataset(tmp_path))
    cases, missed, false = worst_cases(dataset, _predict(yolo_bundle, dataset))
    assert (missed, false) == (1, 1)
    assert [(c.kind, c.item.name, dataset.names[c.class_id]) for c in cases] == [
        ("missed", "im1.png", "green"),  # labelled but never drawn
        ("false", "im0.png", "red"),  # drawn but no longer labelled
    ]
    assert cases[0].xyxy == (32.0, 384.0, 160.0, 512.0)
    assert cases[1].confidence > 0.9
    # At IoU 0.7 the blue label, 30 px off the drawn square, is a miss and the blue box a false alarm.
    strict, missed, false = worst_cases(dataset, _predict(yolo_bundle, dataset), iou=0.7)
    assert (missed, false) == (2, 2)
    assert {(c.kind, dataset.names[c.class_id]) for c in strict} >= {("missed", "blue"), ("false", "blue")}


def test_gallery_draws_each_box_where_it_is(yolo_bundle: Bundle, tmp_path: Path) -> None:
    dataset = _unlabel_red(colour_dataset(tmp_path))
    cases, _, _ = worst_cases(dataset, _predict(yolo_bundle, dataset), iou=0.7)
    image, placements = gallery_image(cases, dataset.names, "title")
    _assert_drawn(image, cases, placements)
    empty, none = gallery_image([], dataset.names, "nothing to show")
    assert none == [] and empty.shape[1] >= 3 * 192


def test_eval_plots_write_the_gallery(yolo_bundle: Bundle, colour_yolo: Path, tmp_path: Path) -> None:
    result = run_cli("eval", str(yolo_bundle.root), str(colour_yolo), "--plots", str(tmp_path))
    assert result.returncode == 0, result.stderr
    path = tmp_path / "worst_boxes.png"
    assert f"wrote {path}" in result.stderr
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 192 and height >= 192 + 30
    dataset = load_dataset(colour_yolo)
    cases, _, _ = worst_cases(dataset, _predict(yolo_bundle, dataset))
    assert [c.kind for c in cases] == ["missed"]
    _, placements = gallery_image(cases, dataset.names, "title")
    _assert_drawn(cv2.imread(str(path)), cases, placements)
