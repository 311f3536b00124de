"""Detection metrics: COCO average precision, computed by faster-coco-eval in memory.

Pure functions of a ``Dataset`` (ground truth) and one ``Detections`` per item.
Boxes are continuous pixel coordinates: a COCO box is ``[x1, y1, x2 - x1, y2 - y1]``
(no ``+ 1``), as in COCO's own json files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset
from edgeloop.errors import EdgeloopError
from edgeloop.types import Detections

# COCO's 10 IoU thresholds 0.50:0.05:0.95 and 101 recall points; AP is read at 100 detections per image.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
COCO_MAX_DETS = 100


@dataclass(frozen=True)
class DetectionReport:
    """COCO box metrics of a detector on a dataset.

    Attributes:
        map50: AP at IoU 0.5, averaged over classes that have ground truth, in [0, 1].
        map50_95: AP averaged over IoU 0.50:0.05:0.95 and those classes.
        per_class: class name -> {"ap50", "ap50_95", "instances"}; the APs are NaN
            (null in JSON) for classes without ground truth in the dataset.
        images: number of images evaluated.
    """

    map50: float
    map50_95: float
    per_class: dict[str, dict[str, float]]
    images: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (NaN becomes null)."""
        return {
            "task": "detect",
            "images": self.images,
            "map50": round(self.map50, 6),
            "map50_95": round(self.map50_95, 6),
            "per_class": {
                name: {
                    "ap50": _json_float(row["ap50"]),
                    "ap50_95": _json_float(row["ap50_95"]),
                    "instances": int(row["instances"]),
                }
                for name, row in self.per_class.items()
            },
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


@dataclass(frozen=True)
class CocoPrecision:
    """COCO's interpolated precision for the "all" area range at 100 detections per image.

    Attributes:
        precision: (10, 101, K) precision per IoU threshold, recall point and class;
            -1 for classes without ground truth (COCO's convention).
        instances: (K,) ground-truth boxes per class.
    """

    precision: npt.NDArray[np.float64]
    instances: npt.NDArray[np.int64]

    def class_ap(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(K,) AP50 and (K,) AP50-95 per class, NaN where a class has no ground truth."""
        present = self.instances > 0
        ap = np.where(present[None, None, :], self.precision, np.nan).mean(axis=1)  # (10, K)
        return ap[0], ap.mean(axis=0)


def _check(dataset: Dataset, predictions: Sequence[Detections]) -> None:
    if dataset.task != "detect":
        raise EdgeloopError(f"detection metrics need a detection dataset, this one is {dataset.task}")
    if len(predictions) != len(dataset.items):
        raise ValueError(f"{len(predictions)} predictions for {len(dataset.items)} dataset items")
    k = len(dataset.names)
    for i, det in enumerate(predictions):
        if len(det) and (det.class_id.min() < 0 or det.class_id.max() >= k):
            raise ValueError(
                f"predictions[{i}] has class ids outside 0..{k - 1} of the dataset's {k} classes; "
                "map the model's classes to the dataset's first"
            )


def _coco_dicts(dataset: Dataset, predictions: Sequence[Detections]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ground truth and detections as COCO dicts; ids start at 1 (0 means "unmatched" to the library)."""
    images = [
        {"id": i + 1, "width": item.size_wh[0], "height": item.size_wh[1]}
        for i, item in enumerate(dataset.items)
    ]
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(dataset.names)]

    def annotations(per_image: Sequence[Detections | None], with_scores: bool) -> list[dict[str, Any]]:
        anns: list[dict[str, Any]] = []
        for i, det in enumerate(per_image):
            if det is None or not len(det):
                continue
            xyxy = det.xyxy.astype(np.float64)
            wh = xyxy[:, 2:] - xyxy[:, :2]
            for box, size, cls, score in zip(
                xyxy.tolist(), wh.tolist(), det.class_id.tolist(), det.confidence.tolist(), strict=True
            ):
                ann = {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": cls + 1,
                    "bbox": [box[0], box[1], size[0], size[1]],
                    "area": size[0] * size[1],
                    "iscrowd": 0,
                }
                if with_scores:
                    ann["score"] = score
                anns.append(ann)
        return anns

    gt = {"images": images, "categories": categories}
    dt = {"images": images, "categories": categories}
    gt["annotations"] = annotations([item.detections for item in dataset.items], with_scores=False)
    dt["annotations"] = annotations(predictions, with_scores=True)
    return gt, dt


def coco_precision(dataset: Dataset, predictions: Sequence[Detections]) -> CocoPrecision:
    """Run COCO box evaluation; ``predictions[i]`` belongs to ``dataset.items[i]``.

    Raises:
        ValueError: the lengths differ or a prediction's class id is not a dataset class.
    """
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError:
        raise EdgeloopError("COCO metrics need faster-coco-eval: pip install 'edgeloop[eval]'") from None

    _check(dataset, predictions)
    k = len(dataset.names)
    instances = np.zeros(k, np.int64)
    for item in dataset.items:
        if item.detections is not None and len(item.detections):
            instances += np.bincount(item.detections.class_id, minlength=k)[:k]
    empty = np.full((len(IOU_THRESHOLDS), len(RECALL_POINTS), k), -1.0)
    if not instances.any():
        return CocoPrecision(empty, instances)
    gt_dict, dt_dict = _coco_dicts(dataset, predictions)
    quiet = lambda *_: None  # noqa: E731 - the library logs every step otherwise
    gt = COCO(gt_dict, print_function=quiet)
    dt = COCO(dt_dict, print_function=quiet)
    evaluator = COCOeval_faster(gt, dt, iouType="bbox", print_function=quiet)
    evaluator.params.maxDets = [1, 10, COCO_MAX_DETS]
    evaluator.evaluate()
    evaluator.accumulate()
    # (T, R, K, A, M): area range 0 is "all", max-dets index -1 is 100.
    precision = np.asarray(evaluator.eval["precision"], np.float64)[:, :, :, 0, -1]
    return CocoPrecision(precision, instances)


def report_from_precision(names: Sequence[str], result: CocoPrecision, images: int) -> DetectionReport:
    """Summarise COCO precision into a ``DetectionReport`` (COCO averages: classes with -1 excluded)."""
    ap50, ap50_95 = result.class_ap()
    present = result.instances > 0
    per_class = {
        name: {"ap50": float(ap50[k]), "ap50_95": float(ap50_95[k]), "instances": int(result.instances[k])}
        for k, name in enumerate(names)
    }
    return DetectionReport(
        map50=float(ap50[present].mean()) if present.any() else 0.0,
        map50_95=float(ap50_95[present].mean()) if present.any() else 0.0,
        per_class=per_class,
        images=images,
    )


def detection_metrics(dataset: Dataset, predictions: Sequence[Detections]) -> DetectionReport:
    """COCO mAP50 and mAP50-95 of ``predictions`` against ``dataset``'s boxes.

    Pure: ``predictions[i]`` belongs to ``dataset.items[i]`` (pixel xyxy, confidences,
    class ids indexing ``dataset.names``). At most 100 detections per image count,
    the highest-scoring, as in COCO.
    """
    result = coco_precision(dataset, predictions)
    return report_from_precision(dataset.names, result, len(dataset.items))
