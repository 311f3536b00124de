"""Classification metrics: top-1 / top-5 accuracy, per-class accuracy and a confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeloop.data.dataset import Dataset
from edgeloop.errors import EdgeloopError
from edgeloop.types import Classification


@dataclass(frozen=True)
class ClassificationReport:
    """Accuracy of a classifier on a dataset.

    Attributes:
        top1: fraction of images whose most likely class is the label.
        top5: fraction whose label is among the 5 most likely classes (all of them when fewer).
        per_class: class name -> {"accuracy", "instances"}; accuracy is NaN (null in JSON)
            for classes without images.
        images: number of images evaluated.
        confusion: (K, K) counts, row = true class, column = predicted class.
    """

    top1: float
    top5: float
    per_class: dict[str, dict[str, float]]
    images: int
    confusion: list[list[int]]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (NaN becomes null)."""
        return {
            "task": "classify",
            "images": self.images,
            "top1": round(self.top1, 6),
            "top5": round(self.top5, 6),
            "per_class": {
                name: {
                    "accuracy": None if math.isnan(row["accuracy"]) else round(row["accuracy"], 6),
                    "instances": int(row["instances"]),
                }
                for name, row in self.per_class.items()
            },
            "confusion": self.confusion,
        }


def classification_metrics(dataset: Dataset, predictions: Sequence[Classification]) -> ClassificationReport:
    """Accuracy of ``predictions`` (``predictions[i]`` for ``dataset.items[i]``).

    Class ids of the probabilities index ``dataset.names``.

    Raises:
        ValueError: the lengths differ or the probabilities do not cover the dataset's classes.
    """
    if dataset.task != "classify":
        raise EdgeloopError(f"classification metrics need a classify dataset, this one is {dataset.task}")
    if len(predictions) != len(dataset.items):
        raise ValueError(f"{len(predictions)} predictions for {len(dataset.items)} dataset items")
    k = len(dataset.names)
    confusion = np.zeros((k, k), np.int64)
    top5_hits = 0
    for i, (item, pred) in enumerate(zip(dataset.items, predictions, strict=True)):
        if item.label is None:
            raise ValueError(f"dataset item {item.name} has no class label")
        if pred.probabilities.shape[0] != k:
            raise ValueError(
                f"predictions[{i}] has {len(pred.probabilities)} probabilities; the dataset has {k} classes"
            )
        confusion[item.label, pred.class_id] += 1
        top5_hits += item.label in {c for c, _ in pred.top(5)}
    n = len(dataset.items)
    instances = confusion.sum(axis=1)
    correct = np.diag(confusion)
    per_class = {
        name: {
            "accuracy": float(correct[c] / instances[c]) if instances[c] else math.nan,
            "instances": int(instances[c]),
        }
        for c, name in enumerate(dataset.names)
    }
    return ClassificationReport(
        top1=float(correct.sum() / n) if n else 0.0,
        top5=top5_hits / n if n else 0.0,
        per_class=per_class,
        images=n,
        confusion=confusion.tolist(),
    )
