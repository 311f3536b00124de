"""The sampler contract: a pure function of one frame's result and the history passed in.

A sampler never keeps state. What it needs to know about the past (what was
captured so far, a rolling baseline, the last kept frame) arrives in a
``SamplerContext`` that its caller owns and updates; the same frame and
context always give the same score.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from edgeloop.types import Detections

FloatArray = npt.NDArray[np.float32]
THUMBNAIL_SIDE = 32
FEATURES = ("brightness", "contrast", "detections", "confidence")


class SamplerParams(BaseModel):
    """Base of every sampler's settings (the keys beside ``type`` in a policy's sampler entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=SamplerParams)


@dataclass(frozen=True)
class Frame:
    """One frame's result, as the samplers see it.

    Attributes:
        sequence: the frame's position in the stream (the random sampler draws from it).
        time_s: the capture clock's reading for this frame, in seconds.
        detections: the model's detections; ``None`` when capturing without a model.
        thumbnail: (32, 32, 3) float32 BGR in [0, 255] from ``thumbnail()``, or ``None``.
        second: a second model's detections on the same frame (disagreement), or ``None``.
        flagged: a client marked the frame as worth keeping.
    """

    sequence: int
    time_s: float
    detections: Detections | None = None
    thumbnail: FloatArray | None = None
    second: Detections | None = None
    flagged: bool = False


@dataclass(frozen=True)
class Baseline:
    """Exponentially weighted mean and variance of ``FEATURES``; immutable, see ``updated``.

    Attributes:
        mean: (4,) running means.
        var: (4,) running variances.
        count: frames folded in so far.
        alpha: weight of each new frame (about 1 / the window length in frames).
    """

    mean: tuple[float, ...] = (0.0,) * len(FEATURES)
    var: tuple[float, ...] = (0.0,) * len(FEATURES)
    count: int = 0
    alpha: float = 0.02

    def updated(self, features: tuple[float, ...]) -> Baseline:
        """The baseline with one more frame's features folded in."""
        if self.count == 0:
            return Baseline(tuple(features), (0.0,) * len(features), 1, self.alpha)
        a = max(self.alpha, 1.0 / (self.count + 1))  # plain mean until the window fills
        mean, var = [], []
        for m, v, x in zip(self.mean, self.var, features, strict=True):
            d = x - m
            mean.append(m + a * d)
            var.append((1 - a) * (v + a * d * d))
        return Baseline(tuple(mean), tuple(var), self.count + 1, self.alpha)


@dataclass(frozen=True)
class SamplerContext:
    """History a sampler may read. The caller (``Capture``) builds and updates it.

    Attributes:
        seed: seeds the random sampler (with the frame's sequence).
        class_counts: detections captured so far, per class name.
        baseline: rolling statistics of recent frames (novelty).
        last_kept_thumbnail: thumbnail of the last kept frame (scene change).
        last_kept_time_s: capture clock reading of the last kept frame (interval).
    """

    seed: int = 0
    class_counts: Mapping[str, int] = field(default_factory=dict)
    baseline: Baseline = Baseline()
    last_kept_thumbnail: FloatArray | None = None
    last_kept_time_s: float | None = None


@dataclass(frozen=True)
class Score:
    """A sampler's verdict: ``score`` in [0, 1] (how much the frame is worth) and why."""

    score: float
    reason: str


@dataclass(frozen=True)
class Sampler(Generic[P]):
    """A registered sampler: its settings model and its pure scoring function.

    Attributes:
        name: the registry name (``type:`` in a policy).
        params: the pydantic model of its settings; every field has a default.
        score: ``(frame, params, context) -> Score``.
        needs_model: whether it reads detections (model-free capture cannot use it).
    """

    name: str
    params: type[P]
    score: Callable[[Frame, P, SamplerContext], Score]
    needs_model: bool

    def __call__(self, frame: Frame, params: Any, context: SamplerContext) -> Score:
        if not isinstance(params, self.params):
            expected, got = self.params.__name__, type(params).__name__
            raise TypeError(f"sampler '{self.name}' takes {expected}, got {got}")
        result = self.score(frame, params, context)
        return Score(min(1.0, max(0.0, float(result.score))), result.reason)


def thumbnail(image_bgr: npt.NDArray[np.uint8]) -> FloatArray:
    """(H, W, 3) uint8 -> (32, 32, 3) float32 block means: what image-statistics samplers compare."""
    h, w = image_bgr.shape[:2]
    side = THUMBNAIL_SIDE
    ys = (np.arange(side + 1) * h) // side
    xs = (np.arange(side + 1) * w) // side
    image = image_bgr.astype(np.float32)
    if h < side or w < side:  # tiny images: nearest rows/columns instead of block means
        return image[np.minimum(ys[:-1], h - 1)][:, np.minimum(xs[:-1], w - 1)].astype(np.float32)
    rows = np.add.reduceat(image, ys[:-1], axis=0) / np.diff(ys)[:, None, None]
    return (np.add.reduceat(rows, xs[:-1], axis=1) / np.diff(xs)[None, :, None]).astype(np.float32)


def features(frame: Frame) -> tuple[float, ...]:
    """``FEATURES`` of a frame: mean and spread of brightness, detection count, mean confidence."""
    brightness = contrast = 0.0
    if frame.thumbnail is not None:
        grey = frame.thumbnail.mean(axis=2)
        brightness, contrast = float(grey.mean()), float(grey.std())
    count = confidence = 0.0
    if frame.detections is not None and len(frame.detections):
        count = float(len(frame.detections))
        confidence = float(frame.detections.confidence.mean())
    return (brightness, contrast, count, confidence)


def uniform(seed: int, sequence: int, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by ``seed``, ``sequence`` and ``salt`` (no hidden state)."""
    digest = hashlib.sha256(f"{seed}:{sequence}:{salt}".encode()).digest()
    return struct.unpack(">Q", digest[:8])[0] / 2.0**64


def fmt(value: float) -> str:
    """A short number for reason strings."""
    return "inf" if math.isinf(value) else f"{value:.3g}"
