"""Sampler registry: pure functions that score how much a frame is worth keeping.

Each entry is a ``Sampler``: a settings model and a function
``(Frame, params, SamplerContext) -> Score``. Adding one is a function, its
settings model and one line here.
"""

from __future__ import annotations

from edgeloop.errors import ConfigError
from edgeloop.improve.samplers.base import (
    Baseline,
    Frame,
    Sampler,
    SamplerContext,
    SamplerParams,
    Score,
    features,
    thumbnail,
)
from edgeloop.registry import Registry

SAMPLERS = Registry(
    "sampler",
    {
        "random": "edgeloop.improve.samplers.simple:RANDOM",
        "close_to_threshold": "edgeloop.improve.samplers.detection:CLOSE_TO_THRESHOLD",
        "selected_classes": "edgeloop.improve.samplers.detection:SELECTED_CLASSES",
        "rare_classes": "edgeloop.improve.samplers.detection:RARE_CLASSES",
        "detection_count": "edgeloop.improve.samplers.detection:DETECTION_COUNT",
        "novelty": "edgeloop.improve.samplers.compare:NOVELTY",
        "disagreement": "edgeloop.improve.samplers.compare:DISAGREEMENT",
        "flagged": "edgeloop.improve.samplers.simple:FLAGGED",
        "interval": "edgeloop.improve.samplers.simple:INTERVAL",
        "scene_change": "edgeloop.improve.samplers.simple:SCENE_CHANGE",
    },
    ConfigError,
)

__all__ = [
    "SAMPLERS",
    "Baseline",
    "Frame",
    "Sampler",
    "SamplerContext",
    "SamplerParams",
    "Score",
    "features",
    "thumbnail",
]
