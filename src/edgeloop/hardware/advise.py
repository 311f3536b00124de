"""The advisor: which (device, runtime, precision, input size) meets a requirement.

Pure functions over the catalog and a calibration: ``estimate_all`` lists
every option with its predicted latency and whether edgeloop can deploy its
runtime today; ``check`` marks each against the requirement (an option
edgeloop cannot deploy never meets it unless the requirement says to include
those); ``rank`` orders them (options that meet everything first, then the
cheapest, the least power, the fastest).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from edgeloop.backends import BACKENDS
from edgeloop.errors import ConfigError
from edgeloop.hardware.catalog import Catalog, Precision, Unit
from edgeloop.hardware.predict import Calibration, Workload, predict

# Catalog runtime -> the edgeloop backend that runs it. The Edge TPU runs through LiteRT with
# its delegate (``device: edgetpu``); a name not listed maps to itself, or to its name before
# a ``-gpu``/``-npu`` unit suffix.
RUNTIME_BACKENDS: dict[str, str] = {
    "onnxruntime-gpu": "onnxruntime",
    "openvino-gpu": "openvino",
    "tflite": "litert",
    "edgetpu": "litert",
}
# Runtimes edgeloop has no backend for, and will not have for now: what they are.
UNSUPPORTED: dict[str, str] = {
    "hailort": "Hailo's HailoRT (e.g. the Raspberry Pi AI Kit)",
    "rknn": "Rockchip's RKNN runtime (RK3588 NPU)",
}


# (device, runtime) pairs where the backend exists but the device cannot run it: the runtime
# version the device is limited to is older than edgeloop's backend needs.
DEVICE_LIMITS: dict[tuple[str, str], str] = {
    ("jetson-nano", "tensorrt"): "JetPack 4 stops at TensorRT 8.2, whose Python bindings are for "
    "Python 3.6; edgeloop's tensorrt backend needs TensorRT 8.6+ on Python 3.10+ (the jetson-jp4 "
    "target runs ONNX Runtime on the CPU)",
}


def backend_name(runtime: str) -> str | None:
    """The backend a catalog runtime needs, registered or not (None: not supported at all)."""
    if runtime in UNSUPPORTED:
        return None
    if runtime in RUNTIME_BACKENDS:
        return RUNTIME_BACKENDS[runtime]
    base, _, unit = runtime.rpartition("-")
    return base if base and unit in ("gpu", "npu") else runtime


def backend_for(runtime: str) -> str | None:
    """The registered edgeloop backend that runs a catalog runtime (``tflite`` -> ``litert``), if any.

    A catalog runtime is deployable when the backend it needs (``backend_name``) is
    registered: adding a backend makes its runtimes deployable.
    """
    name = backend_name(runtime)
    return name if name is not None and name != "null" and name in BACKENDS else None


def deployable_backend(device: str, runtime: str) -> str | None:
    """The backend that runs ``runtime`` on catalog device ``device``, if edgeloop can deploy it there."""
    return None if (device, runtime) in DEVICE_LIMITS else backend_for(runtime)


def undeployable_reason(runtime: str, device: str | None = None) -> str:
    """Why options on ``runtime`` (on ``device``) cannot be deployed, in a few words."""
    if device is not None and (device, runtime) in DEVICE_LIMITS:
        return DEVICE_LIMITS[device, runtime]
    if runtime in UNSUPPORTED:
        return f"edgeloop does not support {UNSUPPORTED[runtime]}"
    backend = backend_name(runtime)
    return f"edgeloop has no {backend} backend" + ("" if backend == runtime else f" (it runs {runtime})")


def undeployable_summary(estimates: list[Estimate]) -> list[str]:
    """One line per runtime (or device and runtime) among ``estimates`` that cannot be deployed, with why."""
    pairs = {(e.device, e.runtime) for e in estimates if not e.deployable}
    limited = sorted(pair for pair in pairs if pair in DEVICE_LIMITS)
    missing = sorted({runtime for pair in pairs if pair not in DEVICE_LIMITS for runtime in pair[1:]})
    said = [f"{runtime}: {undeployable_reason(runtime)}" for runtime in missing]
    return said + [f"{run} on {device}: {undeployable_reason(run, device)}" for device, run in limited]


def runnable_sizes(
    requested: list[int] | None, imgsz: int | None, dynamic: bool
) -> tuple[list[int], list[int]]:
    """The input sizes to consider and the requested ones left out because the model cannot run them.

    A model with a fixed input runs at its own size only; a dynamic one at the requested
    sizes, or by default at its size and smaller multiples of 32 (``default_sizes``).

    Raises:
        ConfigError: a fixed-size model and none of the requested sizes is its own.
    """
    if dynamic or imgsz is None:
        return requested or default_sizes(imgsz), []
    if not requested:
        return [imgsz], []
    dropped = [size for size in requested if size != imgsz]
    if len(dropped) == len(requested):
        raise ConfigError(
            f"--imgsz {','.join(map(str, requested))}: the model's input is fixed at {imgsz}x{imgsz}, so it "
            f"runs at {imgsz} only; export it again at another size (or with a dynamic input) to compare"
        )
    return [imgsz], dropped


class Requirement(BaseModel):
    """What the user needs."""

    fps: float = Field(gt=0, description="frames per second per stream")
    streams: int = Field(default=1, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    max_watts: float | None = Field(default=None, gt=0)
    min_map: float | None = Field(default=None, ge=0, le=1)
    include_undeployable: bool = Field(
        default=False, description="let runtimes edgeloop cannot deploy today meet the requirement"
    )

    @property
    def total_fps(self) -> float:
        return self.fps * self.streams


class Estimate(BaseModel):
    """One predicted option, and how it fares against the requirement."""

    device: str
    device_name: str
    runtime: str
    unit: Unit
    precision: Precision
    imgsz: int | None
    latency_ms: float
    fps: float
    calibration: str = Field(description="the calibration group the prediction came from")
    runtime_calibrated: bool = Field(
        description="False: no published measurement of this runtime; extrapolated"
    )
    price_usd: float | None
    power_w: float | None
    needs_int8: bool
    deployable: bool = Field(
        default=True, description="edgeloop has a backend for this runtime (`edgeloop deploy`, `serve`)"
    )
    backend: str | None = Field(default=None, description="the edgeloop backend that runs it, if any")
    map: float | None = Field(default=None, description="the bundle's mAP for this precision, if known")
    accuracy_cost: float | None = Field(default=None, description="mAP lost against FP32, if known")
    headroom: float | None = Field(default=None, description="fps / (required fps x streams)")
    meets: bool | None = None
    reasons: list[str] = Field(default_factory=list, description="why it does not meet the requirement")


def default_sizes(imgsz: int | None) -> list[int]:
    """The model's input size and smaller multiples of 32 (3/4 and 1/2 of it)."""
    if imgsz is None:
        return []
    sizes = {imgsz, max(32, round(imgsz * 0.75 / 32) * 32), max(32, round(imgsz * 0.5 / 32) * 32)}
    return sorted(sizes, reverse=True)


def estimate_all(
    work: Workload,
    catalog: Catalog,
    calibration: Calibration,
    sizes: list[int] | None = None,
    map_by_precision: dict[str, float] | None = None,
) -> list[Estimate]:
    """Every (device, runtime, precision, input size) the catalog allows, with its prediction."""
    sizes = sizes or default_sizes(work.imgsz) or [work.imgsz or 0]  # callers pass runnable_sizes()
    maps = map_by_precision or {}
    base_map = maps.get("fp32")
    out = []
    for device in catalog.devices:
        for target in device.targets:
            for precision in target.precisions:
                if device.peak(target.unit, precision) is None:
                    continue
                for size in sizes:
                    sized = work.at(size) if size else work
                    p = predict(sized, device, target.runtime, target.unit, precision, calibration)
                    # FP16 keeps FP32 accuracy in practice; INT8 only where the bundle measured it.
                    m = maps.get(precision, base_map if precision == "fp16" else None)
                    cost = base_map - m if base_map is not None and m is not None else None
                    out.append(
                        Estimate(
                            device=device.slug,
                            device_name=device.name,
                            runtime=target.runtime,
                            unit=target.unit,
                            precision=precision,
                            imgsz=size or None,
                            latency_ms=round(p.latency_ms, 3),
                            fps=round(p.fps, 2),
                            calibration=p.group,
                            runtime_calibrated=p.group.startswith(target.runtime + "/"),
                            price_usd=device.price_usd,
                            power_w=device.power_w,
                            needs_int8=precision == "int8",
                            deployable=deployable_backend(device.slug, target.runtime) is not None,
                            backend=deployable_backend(device.slug, target.runtime),
                            map=m if size == work.imgsz else None,
                            accuracy_cost=cost if size == work.imgsz else None,
                        )
                    )
    return out


def check(estimate: Estimate, need: Requirement) -> Estimate:
    """A copy of ``estimate`` with headroom, ``meets`` and the reasons it fails filled in."""
    headroom = estimate.fps / need.total_fps
    reasons = []
    if not estimate.deployable and not need.include_undeployable:
        why = undeployable_reason(estimate.runtime, estimate.device)
        reasons.append(f"{why} (--include-undeployable to rank it)")
    if headroom < 1:
        reasons.append(f"{estimate.fps:.1f} FPS < {need.total_fps:g} needed")
    if need.budget_usd is not None:
        if estimate.price_usd is None:
            reasons.append("price unknown")
        elif estimate.price_usd > need.budget_usd:
            reasons.append(f"${estimate.price_usd:g} > ${need.budget_usd:g}")
    if need.max_watts is not None:
        if estimate.power_w is None:
            reasons.append("power unknown")
        elif estimate.power_w > need.max_watts:
            reasons.append(f"{estimate.power_w:g} W > {need.max_watts:g} W")
    if need.min_map is not None:
        if estimate.map is None:
            reasons.append("accuracy unknown at this precision and size")
        elif estimate.map < need.min_map:
            reasons.append(f"mAP {estimate.map:.3f} < {need.min_map:g}")
    return estimate.model_copy(
        update={"headroom": round(headroom, 3), "meets": not reasons, "reasons": reasons}
    )


def rank(estimates: list[Estimate]) -> list[Estimate]:
    """Options that meet the requirement first, deployable ones before the others, those predicted
    from measurements of their own runtime before extrapolated ones; then cheapest, least power, fastest."""
    inf = float("inf")
    return sorted(
        estimates,
        key=lambda e: (
            not e.meets,
            not e.deployable,
            not e.runtime_calibrated,
            e.price_usd if e.price_usd is not None else inf,
            e.power_w if e.power_w is not None else inf,
            -e.fps,
        ),
    )


def advise(
    work: Workload,
    need: Requirement,
    catalog: Catalog,
    calibration: Calibration,
    sizes: list[int] | None = None,
    map_by_precision: dict[str, float] | None = None,
) -> list[Estimate]:
    """Every option checked against ``need`` and ranked."""
    estimates = estimate_all(work, catalog, calibration, sizes, map_by_precision)
    return rank([check(e, need) for e in estimates])
