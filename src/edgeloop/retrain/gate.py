"""The accuracy gate: does a retrained candidate bundle replace the current one?

Both bundles run through the ``Predictor`` (the device's inference path) on the fixed test
split and on the newest field dataset; the rules (``GateRules``) compare overall and
per-class scores, optionally latency on a target, and record what ``optimize``'s own gate
says of the INT8 variant. Every check is kept; the failed ones are the reasons.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.errors import BundleError
from edgeloop.predictor import Predictor
from edgeloop.retrain.compare import Check, compare_scores, latency_check, skipped_classes
from edgeloop.retrain.int8 import Int8Result, make_int8
from edgeloop.retrain.latency import Latency, measure_latency
from edgeloop.retrain.rules import GateRules
from edgeloop.retrain.scores import LABELS, GateData, Scores, load_gate_data, score, split_folder


@dataclass(frozen=True)
class DatasetResult:
    """Both models on one dataset (``role``: ``test`` or ``field``)."""

    role: str
    path: str
    split: str
    names: list[str]
    candidate: Scores
    current: Scores | None
    skipped: list[str]  # classes with too few instances for the class rule

    def as_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "path": self.path,
            "split": self.split,
            "names": self.names,
            "candidate": self.candidate.as_dict(),
            "current": self.current.as_dict() if self.current is not None else None,
            "skipped_classes": self.skipped,
        }


@dataclass(frozen=True)
class ModelInfo:
    """Which bundle was gated."""

    path: str
    name: str
    version: str
    dataset_fingerprint: str | None
    parent_version: str | None
    names: list[str]

    @classmethod
    def of(cls, path: Path, bundle: Bundle) -> ModelInfo:
        m = bundle.manifest
        p = m.provenance
        return cls(str(path), m.name, m.version, p.dataset_fingerprint, p.parent_version, list(m.names))


@dataclass
class GateReport:
    """The gate's verdict and everything it compared.

    Attributes:
        passed: the candidate may replace the current model.
        reasons: one line per failed check, naming the metric, dataset, class, numbers and limit.
    """

    passed: bool
    reasons: list[str]
    task: str
    metric: str
    candidate: ModelInfo
    current: ModelInfo | None
    rules: GateRules
    datasets: list[DatasetResult]
    checks: list[Check]
    latency: Latency | None = None
    int8: Int8Result | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "refused"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: what ``gate.json`` holds and the hub stores with the version."""
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "task": self.task,
            "metric": self.metric,
            "metric_label": LABELS[self.metric],
            "candidate": vars(self.candidate),
            "current": vars(self.current) if self.current is not None else None,
            "rules": self.rules.model_dump(mode="json"),
            "datasets": [d.as_dict() for d in self.datasets],
            "checks": [c.as_dict() for c in self.checks],
            "latency": self.latency.as_dict() if self.latency is not None else None,
            "int8": self.int8.as_dict() if self.int8 is not None else None,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
            "created": self.created,
        }


def _score_both(
    data: GateData, role: str, candidate: Bundle, current: Bundle | None, rules: GateRules, progress: bool
) -> DatasetResult:
    with Predictor(candidate) as predictor:
        cand = score(predictor, data.dataset, progress, f"candidate on {role}")
    cur = None
    if current is not None:
        with Predictor(current) as predictor:
            cur = score(predictor, data.dataset, progress, f"current on {role}")
    return DatasetResult(
        role, str(data.path), data.split, list(data.dataset.names), cand, cur, skipped_classes(cand, rules)
    )


def _notes(candidate: Bundle, current: Bundle | None, datasets: list[DatasetResult]) -> list[str]:
    notes = []
    for d in datasets:
        extra = [n for n in candidate.manifest.names if n not in d.names]
        if extra:
            notes.append(
                f"classes the candidate knows and {d.role} lacks (not scored there): {', '.join(extra)}"
            )
        if current is not None:
            new = [n for n in d.names if n not in current.manifest.names]
            if new:
                notes.append(
                    f"{d.role} classes the current model lacks (it scores 0 on them): {', '.join(new)}"
                )
        if d.skipped:
            notes.append(
                f"class rule skipped on {d.role} for classes with too few instances: {', '.join(d.skipped)}"
            )
    return notes


def run_gate(
    candidate: Path,
    current: Path | None,
    test: Path,
    field: Path | None,
    rules: GateRules,
    progress: bool = False,
    *,
    int8_out: Path | None = None,
) -> GateReport:
    """Judge ``candidate`` against ``current`` (None: a first model) on ``test`` and ``field``.

    Datasets are folders in any format edgeloop reads; one with splits is scored on its
    ``test`` split. With ``rules.int8`` the INT8 variant is made with ``optimize`` into
    ``int8_out`` (a temporary folder, removed, when None).

    Raises:
        BundleError: a bundle does not load or verify, or the two bundles' tasks differ.
        DatasetError: a dataset cannot be read, has splits but no test split, or is of another task.
        ConfigError: a latency target the catalog does not know.
    """
    started = time.perf_counter()
    cand_bundle = load_bundle(candidate)
    cur_bundle = load_bundle(current) if current is not None else None
    task = cand_bundle.manifest.task
    if cur_bundle is not None and cur_bundle.manifest.task != task:
        raise BundleError(
            f"the candidate is a {task} model and the current one a {cur_bundle.manifest.task} model: "
            "gate a candidate of the current model's task"
        )
    roles = [("test", test)] + ([("field", field)] if field is not None else [])
    loaded = {role: load_gate_data(Path(path), role) for role, path in roles}
    datasets = [
        _score_both(data, role, cand_bundle, cur_bundle, rules, progress) for role, data in loaded.items()
    ]
    checks = [c for d in datasets for c in compare_scores(d.role, d.candidate, d.current, rules)]
    with tempfile.TemporaryDirectory(prefix="edgeloop-gate-") as tmp:
        int8 = _int8(candidate, loaded, rules, progress, int8_out, Path(tmp)) if rules.int8 else None
        latency = None
        if rules.latency_budget_ms is not None:
            # The budget holds for what would ship: the INT8 variant when optimize accepted it.
            shipped = Path(tmp) / "int8" if int8_out is None else int8_out
            use_int8 = int8 is not None and int8.accepted
            latency = measure_latency(
                shipped if use_int8 else candidate, current, rules, "int8" if use_int8 else "fp32"
            )
            checks.append(
                latency_check(
                    latency.candidate_ms, latency.current_ms, rules.latency_budget_ms, latency.where
                )
            )
    reasons = [c.text for c in checks if not c.passed]
    return GateReport(
        passed=not reasons,
        reasons=reasons,
        task=task,
        metric=datasets[0].candidate.metric,
        candidate=ModelInfo.of(candidate, cand_bundle),
        current=ModelInfo.of(current, cur_bundle) if current is not None and cur_bundle is not None else None,
        rules=rules,
        datasets=datasets,
        checks=checks,
        latency=latency,
        int8=int8,
        notes=_notes(cand_bundle, cur_bundle, datasets),
        seconds=time.perf_counter() - started,
    )


def _int8(
    candidate: Path, data: dict[str, GateData], rules: GateRules, progress: bool, out: Path | None, tmp: Path
) -> Int8Result:
    """INT8 through ``optimize``: calibrated on the field data (else test), gated on the test split."""
    test = split_folder(data["test"], tmp)
    calib = split_folder(data["field"], tmp) if "field" in data else test
    return make_int8(candidate, out or tmp / "int8", test, calib, rules, progress, keep=out is not None)
