"""The gate's rules applied to scores: pure functions, no models, no files.

Every check is kept, passed or not, so the report shows what was compared; the failed
ones become the reasons, each naming the metric, dataset, class, numbers and limit:
``class 'circle' on test: mAP50-95 0.612 -> 0.401 (-21.1 points), limit -5.0``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from edgeloop.retrain.rules import GateRules
from edgeloop.retrain.scores import LABELS, Scores

_EPS = 1e-9  # a drop equal to the limit passes; float noise must not refuse it


@dataclass(frozen=True)
class Check:
    """One rule applied once.

    Attributes:
        rule: ``overall`` (overall drop), ``class`` (one class's drop), ``floor`` (first model's
            least score) or ``latency`` (budget).
        dataset: ``test`` or ``field`` (None for latency).
        class_name: the class for ``class`` checks.
        metric: metric key (``map50_95``, ``top1``) or ``latency_ms``.
        candidate, current: the values compared (current None: no current model).
        delta: candidate - current in points (x100), or in ms for latency; None without a current.
        limit: the rule's limit: points (negative: the most a score may drop), a floor in [0, 1],
            or a budget in ms.
    """

    rule: str
    dataset: str | None
    class_name: str | None
    metric: str
    candidate: float
    current: float | None
    delta: float | None
    limit: float
    passed: bool
    text: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def drop_check(
    rule: str,
    dataset: str,
    class_name: str | None,
    metric: str,
    candidate: float,
    current: float,
    limit: float,
) -> Check:
    """Candidate vs current: passes when it loses at most ``limit`` points."""
    delta = (candidate - current) * 100
    passed = delta >= -limit - _EPS
    subject = f"class '{class_name}' on {dataset}" if class_name is not None else f"overall on {dataset}"
    text = (
        f"{subject}: {LABELS[metric]} {_fmt(current)} -> {_fmt(candidate)} ({delta:+.1f} points), "
        f"limit -{limit:.1f}"
    )
    return Check(rule, dataset, class_name, metric, candidate, current, delta, -limit, passed, text)


def floor_check(dataset: str, metric: str, candidate: float, floor: float) -> Check:
    """A first model (no current): its overall score must reach ``floor``."""
    passed = candidate >= floor - _EPS
    text = (
        f"overall on {dataset}: {LABELS[metric]} {_fmt(candidate)}, floor {_fmt(floor)} for a first model "
        "(no current model to compare with; min_map)"
    )
    return Check("floor", dataset, None, metric, candidate, None, None, floor, passed, text)


def latency_check(candidate_ms: float, current_ms: float | None, budget_ms: float, where: str) -> Check:
    """The candidate's inference latency on the target must be within the budget."""
    passed = candidate_ms <= budget_ms
    was = f" (current {current_ms:.2f} ms)" if current_ms is not None else ""
    text = f"latency on {where}: {candidate_ms:.2f} ms{was}, budget {budget_ms:g} ms"
    delta = candidate_ms - current_ms if current_ms is not None else None
    return Check(
        "latency", None, None, "latency_ms", candidate_ms, current_ms, delta, budget_ms, passed, text
    )


def compare_scores(dataset: str, candidate: Scores, current: Scores | None, rules: GateRules) -> list[Check]:
    """Every accuracy check of ``rules`` on one dataset.

    With a current model: the overall metric may drop at most ``max_map_drop`` points, and every
    class with at least ``min_instances`` instances at most ``max_class_drop`` points. Without
    one: the overall metric must reach ``min_map``.
    """
    metric = candidate.metric
    if current is None:
        return [floor_check(dataset, metric, candidate.overall[metric], rules.min_map)]
    checks = [
        drop_check(
            "overall",
            dataset,
            None,
            metric,
            candidate.overall[metric],
            current.overall[metric],
            rules.max_map_drop,
        )
    ]
    for name, row in candidate.per_class.items():
        before = current.per_class.get(name, {}).get(metric, math.nan)
        after = row.get(metric, math.nan)
        if row["instances"] < rules.min_instances or math.isnan(before) or math.isnan(after):
            continue
        checks.append(drop_check("class", dataset, name, metric, after, before, rules.max_class_drop))
    return checks


def skipped_classes(candidate: Scores, rules: GateRules) -> list[str]:
    """Classes of the dataset the class rule skipped: fewer than ``min_instances`` instances."""
    return [name for name, row in candidate.per_class.items() if row["instances"] < rules.min_instances]
