"""evaluate() through the real inference path (ONNX Runtime) on datasets with known scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.errors import DatasetError
from edgeloop.evaluate import (
    ClassificationReport,
    DetectionReport,
    class_mapping,
    detection_metrics,
    evaluate,
    predict_dataset,
)
from edgeloop.evaluate.confusion import detection_confusion
from edgeloop.evaluate.plots import classification_plots, detection_plots
from edgeloop.predictor import Predictor
from tests.evaluate.conftest import EXPECTED, EXPECTED_MAP50, EXPECTED_MAP50_95, colour_dataset


def test_detector_scores_match_the_known_answer(yolo_bundle: Bundle, colour_yolo: Path) -> None:
    dataset = load_dataset(colour_yolo)
    with Predictor(yolo_bundle) as predictor:
        report = evaluate(predictor, dataset, progress=False)
    assert isinstance(report, DetectionReport)
    assert report.images == 4
    assert report.map50 == pytest.approx(EXPECTED_MAP50, abs=1e-6)
    assert report.map50_95 == pytest.approx(EXPECTED_MAP50_95, abs=1e-6)
    for name, (ap50, ap50_95) in EXPECTED.items():
        assert report.per_class[name]["ap50"] == pytest.approx(ap50, abs=1e-6), name
        assert report.per_class[name]["ap50_95"] == pytest.approx(ap50_95, abs=1e-6), name
    assert report.per_class["green"]["instances"] == 2


@pytest.mark.parametrize("fmt", ["coco", "voc"])
def test_other_dataset_formats_score_the_same(
    yolo_bundle: Bundle, colour_yolo: Path, tmp_path: Path, fmt: str
) -> None:
    save_dataset(load_dataset(colour_yolo), tmp_path / fmt, fmt)
    with Predictor(yolo_bundle) as predictor:
        report = evaluate(predictor, load_dataset(tmp_path / fmt), progress=False)
    assert isinstance(report, DetectionReport)
    assert (report.map50, report.map50_95) == pytest.approx((EXPECTED_MAP50, EXPECTED_MAP50_95), abs=1e-6)


def test_every_output_family_scores_the_same(detector_bundle: Bundle, colour_yolo: Path) -> None:
    with Predictor(detector_bundle) as predictor:
        report = evaluate(predictor, load_dataset(colour_yolo), progress=False)
    assert isinstance(report, DetectionReport)
    assert report.map50_95 == pytest.approx(EXPECTED_MAP50_95, abs=1e-6)


def test_dataset_classes_in_another_order_are_mapped_by_name(yolo_bundle: Bundle, tmp_path: Path) -> None:
    dataset = colour_dataset(tmp_path, names=("blue", "red", "green"))
    with Predictor(yolo_bundle) as predictor:
        detections = predict_dataset(predictor, dataset, progress=False)
    assert detections[0].names == ("blue", "red", "green")
    assert detections[0].class_id.tolist() == [1]  # red is class 1 of this dataset
    report = detection_metrics(dataset, detections)
    assert report.map50_95 == pytest.approx(EXPECTED_MAP50_95, abs=1e-6)
    assert list(report.per_class) == ["blue", "red", "green"]


def test_different_classes_and_tasks_are_refused(yolo_bundle: Bundle, classify_bundle: Bundle) -> None:
    with pytest.raises(DatasetError, match="dataset classes the model lacks: yellow") as info:
        class_mapping(("red", "green", "blue"), ("red", "green", "yellow"))
    assert "model classes the dataset lacks: blue" in str(info.value)
    dataset = Dataset(("red", "green", "blue"), (Item(Path("x.png"), "x.png", (8, 8), label=0),), "classify")
    with Predictor(yolo_bundle) as predictor, pytest.raises(DatasetError, match="detect model"):
        evaluate(predictor, dataset, progress=False)
    detect_ds = Dataset(("red", "green", "blue"), (), "detect")
    with Predictor(classify_bundle) as predictor, pytest.raises(DatasetError, match="classify model"):
        evaluate(predictor, detect_ds, progress=False)


def test_classifier_accuracy_and_confusion(classify_bundle: Bundle, colour_folders: Path) -> None:
    dataset = load_dataset(colour_folders)
    assert dataset.names == ("blue", "green", "red")  # sorted folders: another order than the model's
    with Predictor(classify_bundle) as predictor:
        report = evaluate(predictor, dataset, progress=False)
    assert isinstance(report, ClassificationReport)
    assert report.top1 == pytest.approx(6 / 7)
    assert report.top5 == 1.0  # three classes: the label is always in the top five
    assert report.per_class["green"] == {"accuracy": pytest.approx(2 / 3), "instances": 3}
    assert report.confusion == [[1, 0, 0], [1, 2, 0], [0, 0, 3]]
    assert report.to_json()["top1"] == pytest.approx(6 / 7, abs=1e-6)


def test_detection_confusion_counts(yolo_bundle: Bundle, colour_yolo: Path) -> None:
    dataset = load_dataset(colour_yolo)
    with Predictor(yolo_bundle) as predictor:
        detections = predict_dataset(predictor, dataset, progress=False)
    matrix = detection_confusion(dataset, detections, conf=0.25, iou=0.5)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = 1  # red found
    expected[1, 1] = 1  # green found
    expected[1, 3] = 1  # green missed
    expected[2, 2] = 1  # blue found (IoU 0.62)
    assert matrix.tolist() == expected.tolist()
    strict = detection_confusion(dataset, detections, conf=0.25, iou=0.7)
    assert strict[2, 3] == 1 and strict[3, 2] == 1  # at IoU 0.7 the blue box is a miss plus a false alarm


def test_plots_are_written(yolo_bundle: Bundle, colour_yolo: Path, tmp_path: Path) -> None:
    import cv2

    dataset = load_dataset(colour_yolo)
    with Predictor(yolo_bundle) as predictor:
        detections = predict_dataset(predictor, dataset, progress=False)
    paths = detection_plots(dataset, detections, tmp_path / "plots")
    paths += classification_plots(("a", "b"), [[3, 1], [0, 2]], tmp_path / "cls")
    names = ["pr_curve.png", "confusion_matrix.png", "worst_boxes.png", "confusion_matrix.png"]
    assert [p.name for p in paths] == names
    for path in paths:
        image = cv2.imread(str(path))
        assert image is not None and image.std() > 5  # a real drawing
        assert image.shape[0] > (200 if path.name == "worst_boxes.png" else 300)  # one missed box: one tile


def test_blind_check_counts_labelled_images_with_nothing_found(yolo_bundle: Bundle, tmp_path: Path) -> None:
    from edgeloop.evaluate.run import blind_check

    ds = colour_dataset(tmp_path)  # three labelled images, each with a drawn box; one empty image
    with Predictor(yolo_bundle) as predictor:
        seen = blind_check(predictor, ds)
        assert (seen.empty, seen.images, seen.conf) == (0, 3, 0.25)
        blind = blind_check(predictor, ds, conf=1.0)  # nothing scores above 1
        assert (blind.empty, blind.images, blind.fraction) == (3, 3, 1.0)
