"""Inference latency of the gate's bundles: measured here (bench) or predicted for a device (advise).

Both give model inference only (what ``edgeloop advise`` predicts, the ``infer`` stage of
``edgeloop bench``), so one budget means the same thing for either target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from edgeloop.bundle import load_bundle
from edgeloop.errors import ConfigError
from edgeloop.hardware.catalog import Precision
from edgeloop.hardware.predict import Workload
from edgeloop.retrain.rules import LOCAL, GateRules


@dataclass(frozen=True)
class Latency:
    """Inference milliseconds of the candidate (and the current model) on one target.

    Attributes:
        where: what the numbers describe, e.g. ``this machine (bench, 30 runs, infer p50)``.
        candidate_ms, current_ms: inference latency; current None without a current model.
        candidate_total_ms: decode + preprocess + infer + postprocess p50 (this machine only).
        precision: the variant timed or predicted.
    """

    target: str
    where: str
    precision: str
    candidate_ms: float
    current_ms: float | None
    candidate_total_ms: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure_latency(
    candidate: Path, current: Path | None, rules: GateRules, precision: str = "fp32"
) -> Latency:
    """The candidate's (and current's) latency on ``rules.latency_target``.

    Raises:
        ConfigError: an unknown device or runtime, or one that cannot run ``precision``.
    """
    if rules.latency_target == LOCAL:
        return _bench(candidate, current, rules.latency_runs, precision)
    return _predict(candidate, current, rules, precision)


def _bench(candidate: Path, current: Path | None, runs: int, precision: str) -> Latency:
    from edgeloop.hardware.bench import bench_one, synthetic_jpeg
    from edgeloop.optimize import backend_for
    from edgeloop.predictor import Predictor

    image = synthetic_jpeg()
    results = {}
    for role, path in (("candidate", candidate), ("current", current)):
        if path is None:
            continue
        bundle = load_bundle(path)
        variant = bundle.manifest.variant(precision if role == "candidate" else None)
        with Predictor(bundle, backend_for(variant), precision=variant.precision) as predictor:
            results[role] = bench_one(predictor, image, 3, runs)
    cand = results["candidate"]
    cur = results.get("current")
    return Latency(
        target=LOCAL,
        where=f"this machine (bench, {runs} runs, infer p50)",
        precision=precision,
        candidate_ms=cand["infer"].p50_ms,
        current_ms=cur["infer"].p50_ms if cur is not None else None,
        candidate_total_ms=cand["total"].p50_ms,
    )


def _predict(candidate: Path, current: Path | None, rules: GateRules, precision: str) -> Latency:
    from edgeloop.hardware.advise import backend_for
    from edgeloop.hardware.catalog import load_catalog
    from edgeloop.hardware.predict import fit, load_measurements, predict

    catalog = load_catalog()
    device = catalog.device(rules.latency_target)  # an unknown slug lists the known ones
    targets = [t for t in device.targets if precision in t.precisions]
    if rules.latency_runtime is not None:
        targets = [t for t in targets if t.runtime == rules.latency_runtime]
    else:
        targets = [t for t in targets if backend_for(t.runtime) is not None] or targets
    if not targets:
        have = ", ".join(f"{t.runtime} ({'/'.join(t.precisions)})" for t in device.targets)
        wanted = f"runtime {rules.latency_runtime} at " if rules.latency_runtime else ""
        raise ConfigError(
            f"latency target {device.slug} has no {wanted}{precision}: it lists {have}; "
            "set latency_runtime to one of them"
        )
    target = targets[0]
    calibration = fit(load_measurements(), catalog)

    def one(path: Path, variant_precision: str | None) -> float:
        work = _workload(path, variant_precision)
        p = predict(work, device, target.runtime, target.unit, cast(Precision, precision), calibration)
        return round(p.latency_ms, 3)

    return Latency(
        target=device.slug,
        where=f"{device.name} ({target.runtime} {target.unit}, predicted as edgeloop advise does)",
        precision=precision,
        candidate_ms=one(candidate, precision),
        current_ms=one(current, None) if current is not None else None,
    )


def _workload(path: Path, precision: str | None) -> Workload:
    from edgeloop.hardware.profile import profile_onnx

    bundle = load_bundle(path)
    height, width = bundle.manifest.input.size_hw
    p = profile_onnx(bundle.model_path(precision), height if height == width else None)
    return Workload(p.gflops, p.params, p.imgsz)
