"""COCO detection metrics against pycocotools, and the cases COCO treats specially."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from edgeloop.data.dataset import Dataset, Item, labelled_boxes
from edgeloop.evaluate import DetectionReport, detection_metrics
from edgeloop.evaluate.metrics import _coco_dicts
from edgeloop.types import Detections

NAMES = ("cat", "dog", "bird", "fish")  # "fish" never appears in the ground truth


def _synthetic(seed: int, images: int = 120) -> tuple[Dataset, list[Detections]]:
    """Three classes of ground truth; predictions jittered, some missed or mislabelled, plus false ones."""
    rng = np.random.default_rng(seed)
    items, preds = [], []
    for i in range(images):
        n = int(rng.integers(0, 7))  # some images have no boxes
        xy = rng.uniform(0, 520, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, 180, (n, 2))], axis=1)
        cls = rng.integers(0, 3, n)
        items.append(Item(Path(f"im{i}.png"), f"im{i}.png", (720, 720), labelled_boxes(boxes, cls, NAMES)))
        found = rng.random(n) > 0.2
        jitter = rng.normal(0, 5, (int(found.sum()), 4))
        pred_cls = cls[found].copy()
        wrong = rng.random(len(pred_cls)) < 0.1
        pred_cls[wrong] = rng.integers(0, 4, int(wrong.sum()))
        m = int(rng.integers(0, 12))
        fp_xy = rng.uniform(0, 520, (m, 2))
        fp = np.concatenate([fp_xy, fp_xy + rng.uniform(4, 150, (m, 2))], axis=1)
        xyxy = np.concatenate([boxes[found] + jitter, fp])
        classes = np.concatenate([pred_cls, rng.integers(0, 4, m)])
        preds.append(Detections(xyxy, rng.random(len(xyxy)), classes, NAMES))
    return Dataset(NAMES, tuple(items)), preds


def _pycocotools_stats(dataset: Dataset, preds: list[Detections]) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_dict, dt_dict = _coco_dicts(dataset, preds)
    gt = COCO()
    gt.dataset = copy.deepcopy(gt_dict)
    gt.createIndex()
    dt = gt.loadRes(copy.deepcopy(dt_dict["annotations"]))
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tied_scores", [False, True])
def test_matches_pycocotools(seed: int, tied_scores: bool) -> None:
    dataset, preds = _synthetic(seed)
    if tied_scores:  # many equal confidences: both must break ties the same way
        preds = [Detections(p.xyxy, np.round(p.confidence, 1), p.class_id, NAMES) for p in preds]
    report = detection_metrics(dataset, preds)
    ap50_95, ap50 = _pycocotools_stats(dataset, preds)
    assert 0.05 < report.map50 < 0.95  # a set that exercises the matching, not a trivial one
    assert report.map50 == pytest.approx(ap50, abs=1e-4)
    assert report.map50_95 == pytest.approx(ap50_95, abs=1e-4)


def test_coco_boxes_are_xywh_without_plus_one() -> None:
    dataset, preds = _synthetic(0, images=3)
    gt, _ = _coco_dicts(dataset, preds)
    ann = gt["annotations"][0]
    box = dataset.items[int(ann["image_id"]) - 1].detections
    assert box is not None
    x1, y1, x2, y2 = box.xyxy[0].tolist()
    assert ann["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1])


def test_perfect_predictions_score_one() -> None:
    dataset, _ = _synthetic(3)
    perfect = [
        item.detections if item.detections is not None else Detections.empty(NAMES) for item in dataset.items
    ]
    report = detection_metrics(dataset, perfect)
    assert report.map50 == pytest.approx(1.0)
    assert report.map50_95 == pytest.approx(1.0)
    assert report.per_class["cat"]["ap50"] == pytest.approx(1.0)


def test_no_predictions_score_zero() -> None:
    dataset, _ = _synthetic(4)
    report = detection_metrics(dataset, [Detections.empty(NAMES)] * len(dataset.items))
    assert (report.map50, report.map50_95) == (0.0, 0.0)
    assert report.images == len(dataset.items)


def test_absent_class_is_excluded_from_the_mean() -> None:
    dataset, preds = _synthetic(5)
    report = detection_metrics(dataset, preds)
    fish = report.per_class["fish"]
    assert fish["instances"] == 0 and math.isnan(fish["ap50"])  # predictions of it exist, no ground truth
    present = [report.per_class[n]["ap50"] for n in NAMES[:3]]
    assert report.map50 == pytest.approx(float(np.mean(present)))
    assert report.to_json()["per_class"]["fish"] == {"ap50": None, "ap50_95": None, "instances": 0}  # type: ignore[index]


def test_images_without_boxes_or_predictions_and_empty_dataset() -> None:
    dataset, preds = _synthetic(6, images=10)
    empty_item = Item(Path("blank.png"), "blank.png", (100, 80), labelled_boxes([], [], NAMES))
    more = Dataset(NAMES, (*dataset.items, empty_item))
    with_blank = detection_metrics(more, [*preds, Detections.empty(NAMES)])
    without = detection_metrics(dataset, preds)
    assert with_blank.map50 == pytest.approx(without.map50)
    assert with_blank.images == 11
    nothing = detection_metrics(Dataset(NAMES, (empty_item,)), [Detections.empty(NAMES)])
    assert nothing == DetectionReport(0.0, 0.0, nothing.per_class, 1)


def test_deterministic_and_rejects_mismatched_input() -> None:
    dataset, preds = _synthetic(7)
    assert detection_metrics(dataset, preds).to_json() == detection_metrics(dataset, preds).to_json()
    with pytest.raises(ValueError, match="2 predictions for"):
        detection_metrics(dataset, preds[:2])
    bad = [*preds[:-1], Detections(np.array([[0, 0, 5, 5]]), np.array([0.5]), np.array([9]), NAMES)]
    with pytest.raises(ValueError, match="class ids outside"):
        detection_metrics(dataset, bad)
