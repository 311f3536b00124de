"""Which runtime a target's image runs for a bundle, where the target has a choice.

The Raspberry Pi target runs ncnn instead of ONNX Runtime when the advisor's latency
model predicts ncnn faster for the bundle's model on the chosen Pi and the bundle has an
ncnn variant (``edgeloop optimize --ncnn``). The decision and its numbers are recorded in
the build context (``context.json``, README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeloop.bundle import Manifest
from edgeloop.deploy.base import Target
from edgeloop.deploy.targets import ALTERNATIVES
from edgeloop.errors import DeployError, EdgeloopError
from edgeloop.hardware.catalog import Catalog, Precision, load_catalog
from edgeloop.hardware.predict import Calibration, Workload, fit, load_measurements, predict

# The catalogued boards each target with a choice may be built for; the first is the default.
BOARDS: dict[str, tuple[str, ...]] = {"rpi": ("raspberry-pi-5", "raspberry-pi-4")}


@dataclass(frozen=True)
class Choice:
    """The runtime an image runs and why."""

    target: Target
    runtime: str  # onnxruntime, ncnn, ...
    board: str | None = None  # catalog slug the prediction is for
    predicted_ms: dict[str, float] | None = None  # runtime -> predicted latency
    reason: str = ""
    hint: str = ""  # how to get the faster runtime, when the bundle lacks its variant

    def record(self) -> dict[str, Any]:
        """What ``context.json`` stores."""
        return {
            "target": self.target.key,
            "runtime": self.runtime,
            "backend": self.target.backend,
            "device": self.target.device,
            "board": self.board,
            "predicted_ms": self.predicted_ms,
            "reason": self.reason,
            "hint": self.hint or None,
        }


def _workload(model_path: str, imgsz: int | None) -> Workload:
    from edgeloop.hardware.profile import profile_onnx

    p = profile_onnx(model_path, imgsz)
    return Workload(p.flops / 1e9, p.params, p.imgsz)


def choose(
    target: Target,
    manifest: Manifest,
    model_path: str,
    board: str | None = None,
    catalog: Catalog | None = None,
    calibration: Calibration | None = None,
) -> Choice:
    """The runtime ``target`` runs for this bundle (``model_path``: its default ONNX model).

    Raises:
        DeployError: ``board`` given for a target without a choice, or not one of its boards.
    """
    options = ALTERNATIVES.get(target.key)
    if not options:
        if board is not None:
            raise DeployError(f"--device {board}: target {target.key} has one runtime; leave --device out")
        return Choice(target, target.backend)
    boards = BOARDS[target.key]
    slug = board or boards[0]
    if slug not in boards:
        raise DeployError(f"--device '{slug}': target {target.key} is for {' or '.join(boards)}")
    catalog = catalog or load_catalog()
    calibration = calibration or fit(load_measurements(), catalog)
    height, width = manifest.input.size_hw
    try:
        work = _workload(model_path, height if height == width else None)
    except EdgeloopError as exc:  # not an ONNX model, or onnx is not installed here
        return Choice(target, target.backend, slug, None, f"kept {target.backend}: no prediction ({exc})")
    device = catalog.device(slug)
    base_precision: Precision = "int8" if manifest.variant().precision == "int8" else "fp32"
    times = {target.backend: predict(work, device, target.backend, "cpu", base_precision, calibration)}
    for runtime in options:
        times[runtime] = predict(work, device, runtime, "cpu", "fp32", calibration)
    ms = {runtime: round(p.latency_ms, 1) for runtime, p in times.items()}
    best = min(ms, key=lambda r: ms[r])
    default = target.backend
    said = ", ".join(f"{r} {v:g} ms" for r, v in ms.items())
    if best == default:
        return Choice(target, default, slug, ms, f"{default} predicted fastest on {slug}: {said}")
    have = any(best in v.backends for v in manifest.variants)
    if have:
        return Choice(options[best], best, slug, ms, f"{best} predicted faster on {slug}: {said}")
    return Choice(
        target,
        default,
        slug,
        ms,
        f"{best} predicted faster on {slug}: {said}; but the bundle has no {best} variant",
        hint=f"make one with `edgeloop optimize BUNDLE --{best} --out NEW_BUNDLE` and deploy that bundle",
    )
