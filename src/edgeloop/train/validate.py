"""Validation during training, through the same preprocessing, decoder and metrics as ``edgeloop eval``.

Only the network runs in torch; images are decoded and letterboxed by
``edgeloop.preprocess`` and raw outputs decoded by the bundle's decoder, so the
number printed each epoch is the number the exported bundle will get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgeloop.data.dataset import Dataset
from edgeloop.evaluate import classification_metrics, detection_metrics
from edgeloop.imaging import read_image
from edgeloop.postprocess import DECODERS, DecodeOptions
from edgeloop.preprocess import InputSpec, Transform, preprocess
from edgeloop.train.model import Classifier, ClassifierExport, Detector, DetectorExport

# The thresholds `edgeloop eval` uses by default (COCO-style).
EVAL_CONF = 0.001
EVAL_IOU = 0.7
EVAL_MAX_DET = 300


def input_spec(imgsz: int) -> InputSpec:
    """The bundle's input: RGB in [0, 1], letterboxed as training's augmentation does, for both tasks."""
    return InputSpec(size_hw=(imgsz, imgsz), resize="letterbox")


@dataclass
class ValSet:
    """Validation images preprocessed once: (K, 3, S, S) tensors and their transforms."""

    dataset: Dataset
    tensors: torch.Tensor
    transforms: list[Transform]

    @classmethod
    def build(cls, dataset: Dataset, imgsz: int) -> ValSet:
        spec = input_spec(imgsz)
        tensors, transforms = [], []
        for item in dataset.items:
            tensor, transform = preprocess(read_image(item.image), spec)
            tensors.append(torch.from_numpy(np.asarray(tensor, np.float32)))
            transforms.append(transform)
        return cls(dataset, torch.cat(tensors), transforms)


@torch.no_grad()
def validate(
    model: Detector | Classifier, val: ValSet, device: torch.device, batch: int = 32
) -> dict[str, float]:
    """mAP50 / mAP50-95 (detection) or top-1 / top-5 (classification) of ``model`` on ``val``."""
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, Detector):
            return _detection(model, val, device, batch)
        return _classification(model, val, device, batch)
    finally:
        model.train(was_training)


def _predict(head: torch.nn.Module, family: str, val: ValSet, device: torch.device, batch: int) -> list[Any]:
    """Run ``head`` over the validation tensors and decode every image with the bundle's decoder."""
    decode = DECODERS.get(family)
    options = DecodeOptions(EVAL_CONF, EVAL_IOU, EVAL_MAX_DET, names=val.dataset.names)
    results = []
    for start in range(0, len(val.tensors), batch):
        out = head(val.tensors[start : start + batch].to(device)).float().cpu().numpy()
        for row, transform in zip(out, val.transforms[start : start + batch], strict=True):
            results.append(decode([row], transform, options))
    return results


def _detection(model: Detector, val: ValSet, device: torch.device, batch: int) -> dict[str, float]:
    size = val.tensors.shape[-2:]
    head = DetectorExport(model, (int(size[0]), int(size[1]))).to(device)
    report = detection_metrics(val.dataset, _predict(head, "yolo", val, device, batch))
    return {"map50": report.map50, "map50_95": report.map50_95}


def _classification(model: Classifier, val: ValSet, device: torch.device, batch: int) -> dict[str, float]:
    head = ClassifierExport(model).to(device)
    report = classification_metrics(val.dataset, _predict(head, "classify", val, device, batch))
    return {"top1": report.top1, "top5": report.top5}
