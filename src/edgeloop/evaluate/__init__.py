"""Evaluation: COCO box metrics and classification accuracy, through the one inference path.

``detection_metrics`` is pure and fast (it is what training calls every epoch);
``evaluate`` runs a ``Predictor`` over a ``Dataset`` first. Plots live in
``edgeloop.evaluate.plots`` (needs matplotlib, from ``edgeloop[eval]``).
"""

from edgeloop.evaluate.classify import ClassificationReport, classification_metrics
from edgeloop.evaluate.metrics import DetectionReport, detection_metrics
from edgeloop.evaluate.run import class_mapping, classify_dataset, evaluate, predict_dataset

__all__ = [
    "ClassificationReport",
    "DetectionReport",
    "class_mapping",
    "classification_metrics",
    "classify_dataset",
    "detection_metrics",
    "evaluate",
    "predict_dataset",
]
