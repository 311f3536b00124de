"""Decoder for classifiers: logits or probabilities -> Classification."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import Classification


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Numerically stable softmax over the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def is_probability(values: npt.NDArray[np.float32]) -> bool:
    """Whether ``values`` already look like a probability distribution."""
    return bool(values.min() >= 0 and values.max() <= 1 and abs(values.sum() - 1) < 1e-3)


def decode(
    outputs: Sequence[npt.NDArray[np.float32]], transform: Transform, options: DecodeOptions
) -> Classification:
    """One image's (C,) logits or probabilities -> Classification."""
    values = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
    probabilities = values if is_probability(values) else softmax(values)
    return Classification(probabilities, options.names)
