"""The candidate's INT8 variant, made and judged by ``optimize`` (its own accuracy gate).

The gate does not re-implement INT8 acceptance: ``optimize`` quantizes, scores FP32 and
INT8 on the test split, and makes INT8 the default only when it loses at most
``int8_max_drop`` points. The gate records that verdict; a refused INT8 variant does not
refuse the candidate (its FP32 model ships).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.retrain.rules import GateRules


@dataclass(frozen=True)
class Int8Result:
    """What ``optimize`` made and said.

    Attributes:
        accepted: optimize's gate accepted INT8 (it is the default variant of ``bundle``).
        bundle: the optimized bundle folder, or None when it was made in a temporary folder.
        fp32, int8: the gated metric of each variant on the test split.
        drop: points INT8 lost against FP32; limit: ``int8_max_drop``.
        speedup: FP32 / INT8 inference time, measured interleaved on this machine.
    """

    accepted: bool
    bundle: str | None
    metric: str
    fp32: float | None
    int8: float | None
    drop: float | None
    limit: float
    latency_fp32_ms: float | None
    latency_int8_ms: float | None
    speedup: float | None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def make_int8(
    candidate: Path, out: Path, test: Path, calib: Path, rules: GateRules, progress: bool, keep: bool
) -> Int8Result:
    """Run ``optimize --int8 --calib CALIB --eval TEST --max-drop rules.int8_max_drop`` into ``out``.

    Raises:
        BundleError: ``out`` exists and is not empty.
        FeatureUnavailable: ONNX Runtime's quantization tools are missing (``edgeloop[export]``).
    """
    options = OptimizeOptions(
        int8=True,
        calib=calib,
        calib_images=rules.int8_calib_images,
        eval=test,
        max_drop=rules.int8_max_drop,
        latency_runs=rules.latency_runs,
        progress=progress,
    )
    report = optimize(candidate, out, options)
    base, made = report.variants[0], next(v for v in report.variants if v.precision == "int8")
    key = "map50_95" if "map50_95" in base.metrics else "top1"
    return Int8Result(
        accepted=bool(made.accepted),
        bundle=str(report.out) if keep else None,
        metric=key,
        fp32=base.metrics.get(key),
        int8=made.metrics.get(key),
        drop=made.metrics.get(f"{key}_drop"),
        limit=rules.int8_max_drop,
        latency_fp32_ms=base.metrics.get("latency_ms"),
        latency_int8_ms=made.metrics.get("latency_ms"),
        speedup=made.metrics.get("speedup_vs_fp32"),
        warnings=list(report.warnings),
    )
