"""Score a bundle on a dataset for the gate: overall and per-class metrics, classes matched by name.

Unlike ``edgeloop eval``, the model and the dataset need not have the same classes: a
retrained candidate may know classes the dataset (or the current model) does not. Its
detections of classes the dataset lacks are dropped; dataset classes the model lacks
score 0 (it never finds them). Metrics come from ``edgeloop.evaluate`` (COCO mAP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop.data.dataset import Dataset
from edgeloop.data.splits import available_splits, load_split
from edgeloop.errors import DatasetError
from edgeloop.evaluate import detection_metrics
from edgeloop.predictor import Predictor
from edgeloop.progress import progress_bar
from edgeloop.types import Classification, Detections

# Metric keys per task: the gated one first. Per-class rows use the same keys.
METRICS = {"detect": ("map50_95", "map50"), "classify": ("top1", "top5")}
LABELS = {"map50_95": "mAP50-95", "map50": "mAP50", "top1": "top-1", "top5": "top-5"}


@dataclass(frozen=True)
class Scores:
    """One model on one dataset.

    Attributes:
        overall: metric key -> value in [0, 1] (``METRICS[task]``).
        per_class: dataset class name -> metric key -> value (NaN: no instances), plus
            ``"instances"`` (labelled boxes, or images for classification).
        images: images scored.
    """

    task: str
    overall: dict[str, float]
    per_class: dict[str, dict[str, float]]
    images: int

    @property
    def metric(self) -> str:
        """The gated metric's key (``map50_95`` or ``top1``)."""
        return METRICS[self.task][0]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (NaN becomes null)."""
        return {
            "images": self.images,
            "overall": {k: _round(v) for k, v in self.overall.items()},
            "per_class": {
                name: {k: (int(v) if k == "instances" else _round(v)) for k, v in row.items()}
                for name, row in self.per_class.items()
            },
        }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


@dataclass(frozen=True)
class GateData:
    """A dataset the gate scores on: which split of which folder."""

    path: Path
    split: str
    dataset: Dataset


def load_gate_data(path: Path, role: str) -> GateData:
    """The split the gate scores on: ``test`` when the folder has splits, else the whole folder.

    Raises:
        DatasetError: the folder has splits but no test split, or cannot be read.
    """
    available = available_splits(path)
    if available and "test" not in available:
        raise DatasetError(
            f"{role} dataset {path} has {', '.join(available)} splits but no test split: the gate scores "
            "images no model trained on; give the test folder itself, or a dataset with a test split "
            "(edgeloop dataset split DATA OUT --test 0.2)"
        )
    chosen = load_split(path, "test" if available else "all")
    if not chosen.dataset.items:
        raise DatasetError(f"{role} dataset {path} ({chosen.split}) has no images")
    return GateData(path, chosen.split, chosen.dataset)


def _name_map(model_names: list[str], dataset_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(M,) dataset class id per model class id; -1 where the dataset lacks the class."""
    index = {name: i for i, name in enumerate(dataset_names)}
    return np.asarray([index.get(name, -1) for name in model_names], np.int64)


def score(predictor: Predictor, dataset: Dataset, progress: bool = False, label: str = "gate") -> Scores:
    """Score ``predictor`` on ``dataset`` (detections at conf 0.001, as ``edgeloop eval``).

    Raises:
        DatasetError: the model's task differs from the dataset's.
    """
    if predictor.task != dataset.task:
        raise DatasetError(
            f"the model is a {predictor.task} model and the dataset a {dataset.task} dataset: "
            f"gate a {predictor.task} model on a {predictor.task} dataset"
        )
    mapping = _name_map(list(predictor.names), dataset.names)
    if dataset.task == "classify":
        return _classify(predictor, dataset, mapping, progress, label)
    options = predictor.options(conf=0.001, iou=0.7, max_det=300)
    found: list[Detections] = []
    with progress_bar(len(dataset.items), label, progress) as advance:
        for item in dataset.items:
            det = predictor.predict(item.image, options)
            assert isinstance(det, Detections)  # the task check above makes this a detector
            ids = mapping[det.class_id] if len(det) else np.zeros(0, np.int64)
            keep = ids >= 0
            found.append(
                Detections(det.xyxy[keep], det.confidence[keep], ids[keep].astype(np.int32), dataset.names)
            )
            advance()
    report = detection_metrics(dataset, found)
    per_class = {
        name: {"map50_95": row["ap50_95"], "map50": row["ap50"], "instances": row["instances"]}
        for name, row in report.per_class.items()
    }
    overall = {"map50_95": report.map50_95, "map50": report.map50}
    return Scores("detect", overall, per_class, report.images)


def _classify(
    predictor: Predictor, dataset: Dataset, mapping: np.ndarray, progress: bool, label: str
) -> Scores:
    """Top-1 / top-5 over the model's own classes: predicting a class the dataset lacks is wrong."""
    k = len(dataset.names)
    hits1, hits5, instances = np.zeros(k), np.zeros(k), np.zeros(k)
    with progress_bar(len(dataset.items), label, progress) as advance:
        for item in dataset.items:
            if item.label is None:
                raise DatasetError(f"dataset item {item.name} has no class label")
            result = predictor.predict(item.image)
            assert isinstance(result, Classification)
            top = [int(mapping[c]) for c, _ in result.top(5)]
            instances[item.label] += 1
            hits1[item.label] += bool(top) and top[0] == item.label
            hits5[item.label] += item.label in top
            advance()
    n = int(instances.sum())
    per_class = {
        name: {
            "top1": float(hits1[c] / instances[c]) if instances[c] else math.nan,
            "instances": float(instances[c]),
        }
        for c, name in enumerate(dataset.names)
    }
    overall = {"top1": float(hits1.sum() / n) if n else 0.0, "top5": float(hits5.sum() / n) if n else 0.0}
    return Scores("classify", overall, per_class, n)


def split_folder(data: GateData, scratch: Path) -> Path:
    """A folder holding exactly ``data``'s images, for tools that read a whole folder (optimize).

    The folder itself when the gate scores all of it, the ``test`` sub-dataset when it is
    one; otherwise (a YOLO ``data.yaml`` with split prefixes) a copy written under ``scratch``.
    """
    if data.split == "all":
        return data.path
    from edgeloop.data.formats import get_format, load_dataset

    sub = data.path / data.split
    try:
        if sub.is_dir() and len(load_dataset(sub).items) == len(data.dataset.items):
            return sub
    except DatasetError:
        pass  # not a dataset of its own: write the split out below

    out = scratch / f"{data.path.name}-{data.split}"
    get_format("yolo" if data.dataset.task == "detect" else "folders").save(data.dataset, out)
    return out
