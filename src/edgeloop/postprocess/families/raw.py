"""``raw``: any ONNX model, its outputs returned as tensors (OCR, segmentation, embeddings).

A raw bundle has no decoder: it is served over ``/v2`` (the Open Inference
Protocol) and run from Python with ``Predictor.infer``. It never claims a
model on its own; ``edgeloop import --family raw`` chooses it.
"""

from __future__ import annotations

from edgeloop.postprocess.families.base import Family, Hints, Match
from edgeloop.types import ModelSpec, TensorSpec

NAME = "raw"


def count_classes(output: TensorSpec) -> int | None:
    """Unknown: edgeloop does not interpret raw outputs."""
    return None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Never: raw is chosen explicitly, so no model is served as tensors by accident."""
    return None


FAMILY = Family(
    name=NAME,
    task="raw",
    decode=None,
    recognise=recognise,
    count_classes=count_classes,
    summary="any model, outputs as tensors over /v2 and Predictor.infer (no decoder)",
)
