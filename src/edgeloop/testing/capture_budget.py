"""A day (or a scaled part of one) of capture at 1 frame/s on a fake clock, checked offline.

``budget_run`` offers synthetic frames to a real ``Capture`` and ``Spool``, then
recomputes from the same seeds, without the spool, which frames should be kept
(the ``max_count`` highest scores, newer first on ties) and how many were
dropped for each reason, and compares.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.improve.capture import Capture, ModelRef
from edgeloop.improve.policy import CapturePolicy, policy_from_dict
from edgeloop.improve.privacy import dropped_class
from edgeloop.improve.samplers import Frame, SamplerContext
from edgeloop.improve.samplers.base import uniform
from edgeloop.improve.spool import Spool
from edgeloop.testing.capture_faults import synthetic_detections


def budget_policy(max_count: int, seed: int) -> CapturePolicy:
    """Two samplers (one thinned by probability), a dropped class, a count budget."""
    return policy_from_dict(
        {
            "samplers": [
                {"type": "close_to_threshold", "band": [0.2, 0.7], "min_score": 0.3},
                {"type": "selected_classes", "classes": ["truck"], "min_score": 0.6, "probability": 0.5},
            ],
            "privacy": {"drop_classes": ["person"], "min_confidence": 0.5},
            "budget": {"max_count": max_count, "max_bytes": None},
            "image": {"max_size": None},
            "seed": seed,
            "counters_flush_s": 60,
        }
    )


class FakeClock:
    """Seconds that advance only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class BudgetReport:
    """Spool's view and the offline recomputation's view of the same run."""

    offers: int
    kept: int
    kept_frames: set[int] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    expected_frames: set[int] = field(default_factory=set)
    expected_counters: dict[str, int] = field(default_factory=dict)


def _offline(policy: CapturePolicy, offers: int, seed: int) -> tuple[list[tuple[float, int]], dict[str, int]]:
    """Every frame's candidate score (after privacy, samplers, probability) and the counters."""
    det_rng = np.random.default_rng(seed)
    context, counts = SamplerContext(seed=seed), Counter[str]()
    candidates: list[tuple[float, int]] = []
    heap: list[tuple[float, int]] = []  # the admitted samples, lowest (score, frame) first
    cap = policy.budget.max_count or offers
    for i in range(offers):
        dets = synthetic_detections(det_rng)
        counts["offered"] += 1
        if dropped_class(dets, policy.privacy.drop_classes, policy.privacy.min_confidence):
            counts["dropped:privacy_drop"] += 1
            continue
        frame = Frame(i, float(i), dets)
        scores = [(e.sampler(frame, e.params, context).score, k) for k, e in enumerate(policy.samplers)]
        triggered = sorted(
            [(s, k) for s, k in scores if s >= policy.samplers[k].min_score], key=lambda sk: -sk[0]
        )
        drawn = [
            s for s, k in triggered if uniform(seed, i, f"probability:{k}") < policy.samplers[k].probability
        ]
        if not triggered or not drawn:
            counts["dropped:not_selected" if not triggered else "dropped:probability"] += 1
            continue
        key = (drawn[0], i)
        candidates.append(key)
        if len(heap) < cap:
            heapq.heappush(heap, key)
        elif heap[0][0] <= key[0]:
            heapq.heapreplace(heap, key)
            counts["evicted"] += 1
        else:
            counts["dropped:budget"] += 1
            continue
        counts["kept"] += 1
    return candidates, dict(counts)


def top_frames(candidates: list[tuple[float, int]], cap: int) -> set[int]:
    """The ``cap`` highest scores, newer first on ties: what the budget must end up holding."""
    return {i for _, i in sorted(candidates, reverse=True)[:cap]}


def budget_run(root: Path, hours: float, max_count: int, seed: int = 0) -> BudgetReport:
    """Offer ``hours`` x 3600 frames at 1 frame/s (fake clock) and compare with the recomputation."""
    offers = round(hours * 3600)
    policy = budget_policy(max_count, seed)
    clock, det_rng, image_rng = FakeClock(), np.random.default_rng(seed), np.random.default_rng(seed + 1)
    with Capture(policy, Spool(root), "budget", ModelRef("synthetic", "1"), clock, clock) as capture:
        for i in range(offers):
            clock.now = float(i)
            capture.offer(image_rng.integers(0, 256, (32, 32, 3), np.uint8), synthetic_detections(det_rng))
    with Spool(root) as spool:
        samples = spool.samples()
        report = BudgetReport(
            offers, len(samples), {int(s.record.wall_time) for s in samples}, spool.counters()
        )
    candidates, report.expected_counters = _offline(policy, offers, seed)
    report.expected_frames = top_frames(candidates, max_count)
    return report


def summary(report: BudgetReport) -> dict[str, Any]:
    """The counts a table prints."""
    return {"offers": report.offers, "kept": report.kept, **report.counters}
