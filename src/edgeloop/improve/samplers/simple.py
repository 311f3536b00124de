"""Samplers that need no model: random, interval, flagged, scene change."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from edgeloop.improve.samplers.base import Frame, Sampler, SamplerContext, SamplerParams, Score, fmt, uniform


class RandomParams(SamplerParams):
    """No settings: pair with ``min_score`` (keep about 1 - min_score of frames)."""


def random(frame: Frame, params: RandomParams, context: SamplerContext) -> Score:
    """A uniform draw fixed by the seed and the frame's sequence.

    Keeping the highest draws within a budget keeps a uniform random sample of
    the stream (a reservoir), which is what budget eviction does with scores.
    """
    draw = uniform(context.seed, frame.sequence, "random")
    return Score(draw, f"random draw {draw:.3f}")


class IntervalParams(SamplerParams):
    """``seconds``: keep one frame per this many seconds."""

    seconds: float = Field(60.0, gt=0.0)


def interval(frame: Frame, params: IntervalParams, context: SamplerContext) -> Score:
    """1 once ``seconds`` have passed since the last kept frame."""
    if context.last_kept_time_s is None:
        return Score(1.0, "first frame")
    elapsed = frame.time_s - context.last_kept_time_s
    if elapsed >= params.seconds:
        return Score(1.0, f"{fmt(elapsed)} s since the last kept frame")
    return Score(0.0, f"only {fmt(elapsed)} s of {fmt(params.seconds)} s since the last kept frame")


class FlaggedParams(SamplerParams):
    """No settings: a client marks the frame."""


def flagged(frame: Frame, params: FlaggedParams, context: SamplerContext) -> Score:
    """1 for a frame a client marked as worth keeping."""
    return Score(1.0, "flagged by a client") if frame.flagged else Score(0.0, "not flagged")


class SceneParams(SamplerParams):
    """``full_change``: mean absolute difference (0-1 of the pixel range) that scores 1."""

    full_change: float = Field(0.2, gt=0.0, le=1.0)


def scene_change(frame: Frame, params: SceneParams, context: SamplerContext) -> Score:
    """How much the image differs from the last kept frame (32x32 thumbnails)."""
    if frame.thumbnail is None:
        return Score(0.0, "no image")
    if context.last_kept_thumbnail is None:
        return Score(1.0, "first frame")
    change = float(np.abs(frame.thumbnail - context.last_kept_thumbnail).mean()) / 255.0
    return Score(change / params.full_change, f"image differs {change:.3f} from the last kept frame")


RANDOM = Sampler("random", RandomParams, random, needs_model=False)
INTERVAL = Sampler("interval", IntervalParams, interval, needs_model=False)
FLAGGED = Sampler("flagged", FlaggedParams, flagged, needs_model=False)
SCENE_CHANGE = Sampler("scene_change", SceneParams, scene_change, needs_model=False)
