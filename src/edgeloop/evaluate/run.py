"""Run a ``Predictor`` over a ``Dataset`` and score the results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edgeloop.data.dataset import Dataset
from edgeloop.errors import DatasetError
from edgeloop.evaluate.classify import ClassificationReport, classification_metrics
from edgeloop.evaluate.metrics import DetectionReport, detection_metrics
from edgeloop.postprocess.families import require_decoder
from edgeloop.progress import progress_bar
from edgeloop.types import Classification, Detections

if TYPE_CHECKING:
    from edgeloop.predictor import Predictor


def class_mapping(model_names: Sequence[str], dataset_names: Sequence[str]) -> npt.NDArray[np.int32]:
    """(M,) dataset class id for each model class id, matched by name.

    Raises:
        DatasetError: the model and the dataset do not have the same set of class names.
    """
    model, data = list(model_names), list(dataset_names)
    if len(set(model)) != len(model) or len(set(data)) != len(data):
        raise DatasetError("class names must be unique in the model and in the dataset to match them by name")
    if set(model) != set(data):
        missing = [n for n in data if n not in model]
        extra = [n for n in model if n not in data]
        parts = []
        if missing:
            parts.append(f"dataset classes the model lacks: {', '.join(missing)}")
        if extra:
            parts.append(f"model classes the dataset lacks: {', '.join(extra)}")
        raise DatasetError(
            f"the model's classes differ from the dataset's ({'; '.join(parts)}); "
            "evaluate on a dataset labelled with the model's classes, or rename the classes to match"
        )
    index = {name: i for i, name in enumerate(data)}
    return np.asarray([index[name] for name in model], np.int32)


def _check_task(predictor: Predictor, dataset: Dataset) -> npt.NDArray[np.int32]:
    require_decoder(predictor.bundle.manifest.family, predictor.bundle.manifest.name)  # raw: no results
    if predictor.task != dataset.task:
        raise DatasetError(
            f"the model is a {predictor.task} model and the dataset a {dataset.task} dataset: "
            f"evaluate a {predictor.task} model on a {predictor.task} dataset"
        )
    return class_mapping(predictor.names, dataset.names)


def predict_dataset(
    predictor: Predictor,
    dataset: Dataset,
    *,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    progress: bool = True,
) -> list[Detections]:
    """Detections for every dataset item, class ids mapped to ``dataset.names``.

    Raises:
        DatasetError: the model is not a detector for the dataset's classes.
    """
    if dataset.task != "detect":
        raise DatasetError(f"predict_dataset needs a detection dataset, this one is {dataset.task}")
    mapping = _check_task(predictor, dataset)
    options = predictor.options(conf=conf, iou=iou, max_det=max_det)
    results: list[Detections] = []
    with progress_bar(len(dataset.items), "evaluate", progress) as advance:
        for item in dataset.items:
            det = predictor.predict(item.image, options)
            assert isinstance(det, Detections)  # the task check above makes this a detector
            results.append(Detections(det.xyxy, det.confidence, mapping[det.class_id], dataset.names))
            advance()
    return results


@dataclass(frozen=True)
class BlindCheck:
    """How often a detector finds nothing at a threshold on images that have labelled objects."""

    empty: int
    images: int
    conf: float

    @property
    def fraction(self) -> float:
        """Share of the checked images where nothing was found (0 when none were checked)."""
        return self.empty / self.images if self.images else 0.0


def blind_check(
    predictor: Predictor, dataset: Dataset, conf: float | None = None, limit: int = 200
) -> BlindCheck:
    """Count images with labelled objects on which ``predictor`` finds nothing at ``conf``.

    ``conf`` defaults to the bundle's own threshold (what ``predict`` and ``serve`` use);
    at most ``limit`` labelled images are run.

    Raises:
        DatasetError: the model is not a detector for the dataset's classes.
    """
    if dataset.task != "detect":
        raise DatasetError(f"blind_check needs a detection dataset, this one is {dataset.task}")
    _check_task(predictor, dataset)
    options = predictor.options(conf=conf)
    labelled = [item for item in dataset.items if item.detections is not None and len(item.detections)]
    empty = 0
    for item in labelled[:limit]:
        found = predictor.predict(item.image, options)
        empty += int(len(found) == 0) if isinstance(found, Detections) else 0
    return BlindCheck(empty, min(len(labelled), limit), options.conf)


def classify_dataset(
    predictor: Predictor, dataset: Dataset, *, progress: bool = True
) -> list[Classification]:
    """Class probabilities for every dataset item, reordered to ``dataset.names``.

    Raises:
        DatasetError: the model is not a classifier for the dataset's classes.
    """
    if dataset.task != "classify":
        raise DatasetError(f"classify_dataset needs a classification dataset, this one is {dataset.task}")
    mapping = _check_task(predictor, dataset)
    results: list[Classification] = []
    with progress_bar(len(dataset.items), "evaluate", progress) as advance:
        for item in dataset.items:
            cls = predictor.predict(item.image)
            assert isinstance(cls, Classification)
            probabilities = np.zeros(len(dataset.names), np.float32)
            probabilities[mapping] = cls.probabilities[: len(mapping)]
            results.append(Classification(probabilities, dataset.names))
            advance()
    return results


def evaluate(
    predictor: Predictor,
    dataset: Dataset,
    *,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    progress: bool = True,
) -> DetectionReport | ClassificationReport:
    """Run ``predictor`` on every image of ``dataset`` and score it (COCO mAP, or accuracy)."""
    if dataset.task == "classify":
        return classification_metrics(dataset, classify_dataset(predictor, dataset, progress=progress))
    detections = predict_dataset(predictor, dataset, conf=conf, iou=iou, max_det=max_det, progress=progress)
    return detection_metrics(dataset, detections)
