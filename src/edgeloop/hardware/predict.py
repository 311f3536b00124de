"""Latency model: predict a model's latency on a catalogued device, with pure functions.

    latency_ms = overhead_ms + compute_ms / efficiency + memory_ms

- ``compute_ms``: the model's FLOPs at the device unit's catalogued peak for
  the precision (what 100 % utilisation would take);
- ``memory_ms``: reading the weights once at the device's memory bandwidth;
- ``efficiency`` (fraction of peak a runtime reaches) and ``overhead_ms``
  (per-inference fixed cost: launches, copies, scheduling) are fitted on the
  published measurements in ``measurements.json``, per group.

Groups go from specific to general; a prediction uses the most specific group
with at least two measurements: (runtime, precision, unit, CPU arch), then
(runtime, unit, arch), (unit, precision), (unit), everything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeloop.errors import ConfigError
from edgeloop.hardware.catalog import Catalog, Device, Precision, Unit
from edgeloop.validation import format_validation_error

MEASUREMENTS_PATH = Path(__file__).with_name("measurements.json")
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}
_MAX_EFFICIENCY = 2.0  # above 1 only when a catalogued peak is too low; cap runaway fits


class Measurement(BaseModel):
    """One published latency: model inference only, batch 1."""

    model_config = ConfigDict(extra="forbid")

    device: str
    runtime: str
    unit: Unit
    precision: Precision
    model: str
    imgsz: int = Field(gt=0)
    gflops: float = Field(gt=0, description="at imgsz")
    params_m: float = Field(gt=0)
    latency_ms: float = Field(gt=0)
    source: str
    note: str = ""


class MeasurementSet(BaseModel):
    """The contents of ``measurements.json``."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    note: str = ""
    measurements: list[Measurement]


def load_measurements(path: str | Path | None = None) -> list[Measurement]:
    """The published measurement set (or another file with the same schema)."""
    target = Path(path) if path else MEASUREMENTS_PATH
    try:
        return MeasurementSet.model_validate(json.loads(target.read_text())).measurements
    except ValidationError as exc:
        where = f"{target} (measurement set)"
        raise ConfigError(format_validation_error(exc, "key", prefix=where, model=MeasurementSet)) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{target}: cannot read the measurement set ({exc})") from None


@dataclass(frozen=True)
class Workload:
    """What one inference costs, independent of hardware."""

    gflops: float
    params: float
    imgsz: int | None = None

    def at(self, imgsz: int) -> Workload:
        """The same model at another square input size (FLOPs scale with the pixel count)."""
        if self.imgsz is None or imgsz == self.imgsz:
            return Workload(self.gflops, self.params, imgsz)
        return Workload(self.gflops * (imgsz / self.imgsz) ** 2, self.params, imgsz)


class Factor(BaseModel):
    """Fitted efficiency and overhead of one group."""

    efficiency: float
    overhead_ms: float
    n: int


class Calibration(BaseModel):
    """Every fitted group, keyed as ``group_keys`` writes them."""

    factors: dict[str, Factor]


def group_keys(runtime: str, precision: str, unit: str, arch: str) -> list[str]:
    """Group names from the most specific to the most general."""
    return [
        f"{runtime}/{precision}/{unit}/{arch}",
        f"{runtime}/{unit}/{arch}",
        f"{unit}/{precision}",
        unit,
        "all",
    ]


def ideal_ms(work: Workload, device: Device, unit: Unit, precision: Precision) -> tuple[float, float]:
    """(compute_ms at 100 % of peak, memory_ms to read the weights once).

    Raises:
        ConfigError: the catalog lists no peak for this unit and precision.
    """
    peak = device.peak(unit, precision)
    if not peak:
        raise ConfigError(f"{device.slug}: no peak_gops for {unit} at {precision} in the catalog")
    compute = 1e3 * work.gflops / peak
    memory = 0.0
    if device.bandwidth_gbs:
        memory = 1e3 * work.params * BYTES_PER_PARAM[precision] / (device.bandwidth_gbs * 1e9)
    return compute, memory


def fit_group(points: Sequence[tuple[float, float, float]]) -> Factor:
    """Fit (efficiency, overhead) to (compute_ms, memory_ms, measured_ms) points.

    Minimises the squared relative error of ``o + c * k + m`` (k = 1/efficiency),
    a weighted linear least-squares problem, with o >= 0.
    """
    w = [1.0 / y**2 for _, _, y in points]
    r = [y - m for _, m, y in points]
    x = [c for c, _, _ in points]
    s0, s1 = sum(w), sum(wi * xi for wi, xi in zip(w, x, strict=True))
    s2 = sum(wi * xi * xi for wi, xi in zip(w, x, strict=True))
    t0 = sum(wi * ri for wi, ri in zip(w, r, strict=True))
    t1 = sum(wi * xi * ri for wi, xi, ri in zip(w, x, r, strict=True))
    det = s0 * s2 - s1 * s1
    overhead, k = 0.0, t1 / s2
    if det > 1e-12 * s0 * s2:
        overhead = (t0 * s2 - s1 * t1) / det
        k = (s0 * t1 - s1 * t0) / det
        if overhead < 0 or k <= 0:
            overhead, k = 0.0, t1 / s2
    k = max(k, 1.0 / _MAX_EFFICIENCY)
    return Factor(efficiency=1.0 / k, overhead_ms=overhead, n=len(points))


def _point(m: Measurement, catalog: Catalog) -> tuple[list[str], tuple[float, float, float]]:
    device = catalog.device(m.device)
    compute, memory = ideal_ms(Workload(m.gflops, m.params_m * 1e6), device, m.unit, m.precision)
    return group_keys(m.runtime, m.precision, m.unit, device.arch), (compute, memory, m.latency_ms)


def fit(measurements: Iterable[Measurement], catalog: Catalog) -> Calibration:
    """Fit every group that has at least two measurements."""
    groups: dict[str, list[tuple[float, float, float]]] = {}
    for m in measurements:
        keys, point = _point(m, catalog)
        for key in keys:
            groups.setdefault(key, []).append(point)
    return Calibration(factors={k: fit_group(v) for k, v in groups.items() if len(v) >= 2})


@dataclass(frozen=True)
class Prediction:
    """A predicted latency and the calibration group it came from."""

    latency_ms: float
    group: str

    @property
    def fps(self) -> float:
        return 1e3 / self.latency_ms


def predict(
    work: Workload, device: Device, runtime: str, unit: Unit, precision: Precision, calibration: Calibration
) -> Prediction:
    """Predicted single-stream inference latency of ``work`` on ``device``.

    Raises:
        ConfigError: no peak for the unit/precision, or an empty calibration.
    """
    compute, memory = ideal_ms(work, device, unit, precision)
    for key in group_keys(runtime, precision, unit, device.arch):
        factor = calibration.factors.get(key)
        if factor is not None:
            return Prediction(factor.overhead_ms + compute / factor.efficiency + memory, key)
    raise ConfigError("the calibration is empty: fit it on at least two measurements")


def leave_one_out(
    measurements: Sequence[Measurement], catalog: Catalog
) -> list[tuple[Measurement, Prediction]]:
    """Predict each measurement from a calibration fitted on all the others."""
    out = []
    for i, m in enumerate(measurements):
        calibration = fit([o for j, o in enumerate(measurements) if j != i], catalog)
        work = Workload(m.gflops, m.params_m * 1e6, m.imgsz)
        out.append((m, predict(work, catalog.device(m.device), m.runtime, m.unit, m.precision, calibration)))
    return out


def abs_pct_errors(pairs: Iterable[tuple[Measurement, Prediction]]) -> list[float]:
    """|predicted - measured| / measured, in percent, per pair."""
    return [100 * abs(p.latency_ms - m.latency_ms) / m.latency_ms for m, p in pairs]


def median_abs_pct_error(pairs: Iterable[tuple[Measurement, Prediction]]) -> float:
    """Median absolute percentage error (MdAPE)."""
    return statistics.median(abs_pct_errors(pairs))


def leave_one_device_out(
    measurements: Sequence[Measurement], catalog: Catalog
) -> list[tuple[Measurement, Prediction]]:
    """Predict each device's measurements from a calibration fitted on the other devices only.

    Harder than ``leave_one_out``: it is what a prediction for an unmeasured device faces.
    """
    out = []
    for device in sorted({m.device for m in measurements}):
        calibration = fit([m for m in measurements if m.device != device], catalog)
        for m in measurements:
            if m.device == device:
                work = Workload(m.gflops, m.params_m * 1e6, m.imgsz)
                out.append(
                    (m, predict(work, catalog.device(device), m.runtime, m.unit, m.precision, calibration))
                )
    return out


def save_measurements(measurements: Sequence[Measurement], path: str | Path) -> Path:
    """Write (or extend) a measurement-set file with ``measurements``."""
    target = Path(path)
    existing = load_measurements(target) if target.exists() else []
    doc = MeasurementSet(
        note="recorded with edgeloop bench --record", measurements=[*existing, *measurements]
    )
    target.write_text(doc.model_dump_json(indent=1) + "\n")
    return target
