"""Samplers that compare a frame with something else: a rolling baseline, a second model."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from edgeloop.improve.samplers.base import (
    FEATURES,
    Frame,
    Sampler,
    SamplerContext,
    SamplerParams,
    Score,
    features,
    fmt,
)
from edgeloop.types import Detections


class NoveltyParams(SamplerParams):
    """``z_full``: deviation (in standard deviations) that scores 1; ``warmup``: frames before scoring."""

    z_full: float = Field(4.0, gt=0.0)
    warmup: int = Field(30, ge=1)
    min_std: tuple[float, float, float, float] = (2.0, 1.0, 0.5, 0.02)


def novelty(frame: Frame, params: NoveltyParams, context: SamplerContext) -> Score:
    """The largest drift of brightness, contrast, detection count or confidence from the baseline.

    ``min_std`` floors each feature's spread, so a perfectly steady scene does
    not turn noise into novelty.
    """
    base = context.baseline
    if base.count < params.warmup:
        return Score(0.0, f"baseline warming up ({base.count} of {params.warmup} frames)")
    worst, name, z_worst = 0.0, FEATURES[0], 0.0
    for i, x in enumerate(features(frame)):
        std = max(math.sqrt(base.var[i]), params.min_std[i])
        z = abs(x - base.mean[i]) / std
        if z > z_worst:
            worst, name, z_worst = z / params.z_full, FEATURES[i], z
    return Score(worst, f"{name} is {fmt(z_worst)} std from the last ~{base.count} frames")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) intersection over union."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def matched_pairs(a: Detections, b: Detections, iou: float) -> int:
    """Greedy one-to-one matches of the same class at or above ``iou``, best confidence first."""
    if not len(a) or not len(b):
        return 0
    overlap = iou_matrix(a.xyxy, b.xyxy)
    overlap[a.class_id[:, None] != b.class_id[None, :]] = 0.0
    used: set[int] = set()
    pairs = 0
    for i in np.argsort(-a.confidence, kind="stable").tolist():
        row = overlap[i].copy()
        row[list(used)] = 0.0
        j = int(np.argmax(row))
        if row[j] >= iou:
            used.add(j)
            pairs += 1
    return pairs


class DisagreementParams(SamplerParams):
    """``iou``: overlap that counts as the same object; ``min_confidence``: ignore weaker boxes."""

    iou: float = Field(0.5, gt=0.0, le=1.0)
    min_confidence: float = Field(0.25, ge=0.0, le=1.0)


def disagreement(frame: Frame, params: DisagreementParams, context: SamplerContext) -> Score:
    """Share of boxes (of both models) left unmatched by the other model."""
    if frame.detections is None or frame.second is None:
        return Score(0.0, "no second model's detections")
    a = frame.detections.filter(params.min_confidence)
    b = frame.second.filter(params.min_confidence)
    if not len(a) and not len(b):
        return Score(0.0, "both models see nothing")
    pairs = matched_pairs(a, b, params.iou)
    unmatched = len(a) + len(b) - 2 * pairs
    return Score(
        unmatched / (len(a) + len(b)),
        f"{unmatched} of {len(a) + len(b)} boxes unmatched (first {len(a)}, second {len(b)})",
    )


NOVELTY = Sampler("novelty", NoveltyParams, novelty, needs_model=False)
DISAGREEMENT = Sampler("disagreement", DisagreementParams, disagreement, needs_model=True)
