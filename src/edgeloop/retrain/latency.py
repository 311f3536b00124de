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
    """Time both bundles with bench's code, round by round: on a shared machine the load
    drifts, and interleaving gives both models the same share of it (as optimize does)."""
    import statistics
    from contextlib import ExitStack

    from edgeloop.hardware.bench import bench_one, synthetic_jpeg
    from edgeloop.optimize import backend_for
    from edgeloop.predictor import Predictor

    image = synthetic_jpeg()
    roles = {"candidate": candidate, **({"current": current} if current is not None else {})}
    infer: dict[str, list[float]] = {role: [] for role in roles}
    total: dict[str, list[float]] = {role: [] for role in roles}
    with ExitStack() as stack:
        predictors = {}
        for role, path in roles.items():
            bundle = load_bundle(path)
            variant = bundle.manifest.variant(precision if role == "candidate" else None)
            predictors[role] = stack.enter_context(
                Predictor(bundle, backend_for(variant), precision=variant.precision)
            )
        for round_index in range(runs + 3):  # three warm-up rounds
            for role, predictor in predictors.items():
                stages = bench_one(predictor, image, 0, 1)
                if round_index >= 3:
                    infer[role].append(stages["infer"].p50_ms)
                    total[role].append(stages["total"].p50_ms)
    return Latency(
        target=LOCAL,
        where=f"this machine (bench, {runs} interleaved runs, infer p50)",
        precision=precision,
        candidate_ms=round(statistics.median(infer["candidate"]), 3),
        current_ms=round(statistics.median(infer["current"]), 3) if current is not None else None,
        candidate_total_ms=round(statistics.median(total["candidate"]), 3),
    )


def _predict(candidate: Path, current: Path | None, rules: GateRules, precision: str) -> Latency:
    from edgeloop.hardware.advise import deployable_backend
    from edgeloop.hardware.catalog import load_catalog
    from edgeloop.hardware.predict import fit, load_measurements, predict

    catalog = load_catalog()
    device = catalog.device(rules.latency_target)  # an unknown slug lists the known ones
    targets = [t for t in device.targets if precision in t.precisions]
    if rules.latency_runtime is not None:
        targets = [t for t in targets if t.runtime == rules.latency_runtime]
    else:
        targets = [t for t in targets if deployable_backend(device.slug, t.runtime) is not None] or targets
    if not targets:
        have = ", ".join(f"{t.runtime} ({'/'.join(t.precisions)})" for t in device.targets)
        wanted = f"runtime {rules.latency_runtime} at " if rules.latency_runtime else ""
        raise ConfigError(
            f"latency target {device.slug} has no {wanted}{precision}: it lists {have}; "
            "set latency_runtime to one of them"
        )
    target = targets[0]
    calibration = fit(load_measurements(), catalog)

    def one(path: Path) -> float:
        # The FP32 graph's FLOPs; the precision picks the device's peak (a QDQ graph counts badly).
        work = _workload(path, "fp32")
        p = predict(work, device, target.runtime, target.unit, cast(Precision, precision), calibration)
        return round(p.latency_ms, 3)

    return Latency(
        target=device.slug,
        where=f"{device.name} ({target.runtime} {target.unit}, predicted as edgeloop advise does)",
        precision=precision,
        candidate_ms=one(candidate),
        current_ms=one(current) if current is not None else None,
    )


def _workload(path: Path, precision: str | None) -> Workload:
    from edgeloop.hardware.profile import profile_onnx

    bundle = load_bundle(path)
    height, width = bundle.manifest.input.size_hw
    if not any(v.precision == precision for v in bundle.manifest.variants):
        precision = None  # e.g. an imported INT8-only bundle: its default variant
    p = profile_onnx(bundle.model_path(precision), height if height == width else None)
    return Workload(p.gflops, p.params, p.imgsz)
