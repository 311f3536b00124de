"""Samplers that read one model's detections: uncertainty, classes, rarity, counts."""

from __future__ import annotations

from pydantic import Field, model_validator

from edgeloop.improve.samplers.base import Frame, Sampler, SamplerContext, SamplerParams, Score
from edgeloop.types import Detections

Band = tuple[float, float]


def _detections(frame: Frame, min_confidence: float) -> Detections:
    if frame.detections is None:
        return Detections.empty()
    return frame.detections.filter(min_confidence)


class ThresholdParams(SamplerParams):
    """``band``: confidences worth a second look; ``classes``: a band per class name."""

    band: Band = (0.3, 0.6)
    classes: dict[str, Band] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdParams:
        for name, (low, high) in [("band", self.band), *self.classes.items()]:
            if not 0.0 <= low < high <= 1.0:
                raise ValueError(f"the band of '{name}' must be [low, high] with 0 <= low < high <= 1")
        return self


def close_to_threshold(frame: Frame, params: ThresholdParams, context: SamplerContext) -> Score:
    """1 for a detection in the middle of its class's band, falling to 0 at the band's edges."""
    best, why = 0.0, "no detection inside its uncertainty band"
    dets = _detections(frame, 0.0)
    for conf, cls in zip(dets.confidence.tolist(), dets.class_id.tolist(), strict=True):
        name = dets.class_name(cls)
        low, high = params.classes.get(name, params.band)
        if low <= conf <= high:
            half = (high - low) / 2
            score = 1.0 - abs(conf - (low + half)) / half
            if score > best:
                best, why = score, f"{name} at {conf:.2f} inside band {low:.2f}-{high:.2f}"
    return Score(best, why)


class ClassesParams(SamplerParams):
    """``classes``: the class names to keep; ``min_confidence``: ignore weaker detections."""

    classes: list[str] = Field(default_factory=list)
    min_confidence: float = Field(0.25, ge=0.0, le=1.0)


def selected_classes(frame: Frame, params: ClassesParams, context: SamplerContext) -> Score:
    """The confidence of the best detection of a selected class."""
    dets = _detections(frame, params.min_confidence)
    best, why = 0.0, "no selected class (" + ", ".join(params.classes) + ")"
    for conf, cls in zip(dets.confidence.tolist(), dets.class_id.tolist(), strict=True):
        name = dets.class_name(cls)
        if name in params.classes and conf > best:
            best, why = conf, f"contains {name} ({conf:.2f})"
    return Score(best, why)


class RareParams(SamplerParams):
    """``min_confidence``: ignore weaker detections."""

    min_confidence: float = Field(0.25, ge=0.0, le=1.0)


def rare_classes(frame: Frame, params: RareParams, context: SamplerContext) -> Score:
    """1 minus the captured share of the rarest class in the frame (inverse frequency)."""
    dets = _detections(frame, params.min_confidence)
    if not len(dets):
        return Score(0.0, "no detections")
    total = sum(context.class_counts.values())
    names = {dets.class_name(c) for c in dets.class_id.tolist()}
    rarest = min(sorted(names), key=lambda n: context.class_counts.get(n, 0))
    count = context.class_counts.get(rarest, 0)
    share = count / total if total else 0.0
    return Score(1.0 - share, f"{rarest} is {count} of {total} captured detections")


class CountParams(SamplerParams):
    """Keep frames with more than ``more_than`` or fewer than ``fewer_than`` detections."""

    more_than: int | None = Field(None, ge=0)
    fewer_than: int | None = Field(None, ge=1)
    min_confidence: float = Field(0.25, ge=0.0, le=1.0)


def detection_count(frame: Frame, params: CountParams, context: SamplerContext) -> Score:
    """1 when the count of detections is outside the configured range, else 0."""
    n = len(_detections(frame, params.min_confidence))
    if params.more_than is not None and n > params.more_than:
        return Score(1.0, f"{n} detections > {params.more_than}")
    if params.fewer_than is not None and n < params.fewer_than:
        return Score(1.0, f"{n} detections < {params.fewer_than}")
    return Score(0.0, f"{n} detections, inside the expected range")


CLOSE_TO_THRESHOLD = Sampler("close_to_threshold", ThresholdParams, close_to_threshold, needs_model=True)
SELECTED_CLASSES = Sampler("selected_classes", ClassesParams, selected_classes, needs_model=True)
RARE_CLASSES = Sampler("rare_classes", RareParams, rare_classes, needs_model=True)
DETECTION_COUNT = Sampler("detection_count", CountParams, detection_count, needs_model=True)
