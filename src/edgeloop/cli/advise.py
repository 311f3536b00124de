"""``edgeloop advise``: which device, runtime, precision and input size meet a frame rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.errors import EdgeloopError

if TYPE_CHECKING:
    from edgeloop.hardware.advise import Estimate
    from edgeloop.hardware.catalog import Catalog
    from edgeloop.hardware.predict import Calibration

_MAP_KEYS = ("map50_95", "mAP50-95", "map", "mAP")


def _sizes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise EdgeloopError(f"--imgsz '{text}': use comma-separated integers, e.g. 640,480,320") from None


def _maps(source: Path) -> dict[str, float]:
    """mAP per precision from the bundle's variant metrics, where recorded."""
    if source.suffix.lower() == ".onnx":
        return {}
    from edgeloop.bundle import load_bundle

    maps: dict[str, float] = {}
    for v in load_bundle(source).manifest.variants:
        value = next((v.metrics[k] for k in _MAP_KEYS if k in v.metrics), None)
        if value is not None:
            maps.setdefault(v.precision, value)
    return maps


@handle_errors
def advise(
    source: Path = typer.Argument(..., help="Bundle folder or .tar, or an .onnx file."),
    fps: float | None = typer.Option(None, min=0.001, help="Frames per second needed per stream."),
    streams: int = typer.Option(1, min=1, help="Camera streams to run at that rate."),
    budget_usd: float | None = typer.Option(None, "--budget-usd", min=0, help="Most a device may cost."),
    max_watts: float | None = typer.Option(
        None, "--max-watts", min=0.001, help="Most power a device may draw."
    ),
    min_map: float | None = typer.Option(None, "--min-map", min=0, max=1, help="Least mAP50-95 accepted."),
    imgsz: str | None = typer.Option(None, help="Input sizes to consider, e.g. 640,480,320."),
    show_all: bool = typer.Option(False, "--all", help="List every estimate, constraints ignored."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per option (JSONL) on stdout."),
    chart: Path | None = typer.Option(None, help="Write a PNG chart of predicted FPS vs price here."),
    catalog: Path | None = typer.Option(None, help="Use this catalog file instead of the packaged one."),
    measurements: list[Path] = typer.Option(
        [], help="Also calibrate on these measurement files (from `edgeloop bench --record`)."
    ),
    top: int = typer.Option(15, min=1, help="Rows in the table."),
    include_undeployable: bool = typer.Option(
        False,
        "--include-undeployable",
        help="Let runtimes edgeloop cannot deploy today (TFLite, Hailo, DepthAI, ...) meet the need.",
    ),
) -> None:
    """Rank devices by predicted FPS, cost and power for a bundle's model."""
    from edgeloop.cli.profile import load_profile
    from edgeloop.hardware.advise import Requirement, check, estimate_all, rank, runnable_sizes
    from edgeloop.hardware.predict import Workload

    if fps is None and not show_all:
        raise EdgeloopError(
            "missing --fps: say the frame rate you need, e.g. --fps 15 (or list everything with --all)"
        )
    requested = _sizes(imgsz)
    p = load_profile(source, None, None, max(requested) if requested else None)
    warning = p.shape_warning()
    if warning:
        err.print(f"warning: {warning}; the predictions below are too optimistic")
    cat, calibration = _calibrated(catalog, measurements)
    work = Workload(p.gflops, p.params, p.imgsz)
    sizes, dropped = runnable_sizes(requested, p.imgsz, p.dynamic_size)
    if dropped:
        err.print(
            f"--imgsz: left out {', '.join(map(str, dropped))}: the model's input is fixed at "
            f"{p.imgsz}x{p.imgsz} (export it again at another size to compare)"
        )
    estimates = estimate_all(work, cat, calibration, sizes, _maps(source))
    if fps is not None:
        need = Requirement(
            fps=fps,
            streams=streams,
            budget_usd=budget_usd,
            max_watts=max_watts,
            min_map=min_map,
            include_undeployable=include_undeployable,
        )
        estimates = rank([check(e, need) for e in estimates])
    else:
        estimates = sorted(estimates, key=lambda e: (not e.deployable, -e.fps))
    shown = estimates if show_all else [e for e in estimates if e.meets]
    if chart is not None:
        from edgeloop.hardware.chart import fps_vs_cost_png

        written = fps_vs_cost_png(estimates, chart, fps * streams if fps else None, budget_usd)
        err.print(f"chart written to {written}")
    if as_json:
        for e in shown:
            stdout_line(json.dumps(e.model_dump()))
    elif shown:
        _table(shown[:top], source.name, p.gflops)
    else:
        err.print("no option meets every limit; the fastest ones, with the reasons they fall short:")
        _table(sorted(estimates, key=lambda e: (not e.deployable, -e.fps))[:top], source.name, p.gflops)
    _footer(estimates, fps, streams, include_undeployable)


def _calibrated(catalog: Path | None, measurements: list[Path]) -> tuple[Catalog, Calibration]:
    """The catalog to advise on and the latency model fitted on every measurement given."""
    from edgeloop.hardware.catalog import Catalog, load_catalog
    from edgeloop.hardware.predict import fit, load_measurements

    cat = load_catalog(catalog)
    extra = [m for path in measurements for m in load_measurements(path)]
    # Published measurements name packaged devices; a custom catalog adds to (or overrides) them.
    devices = {d.slug: d for d in load_catalog().devices} | {d.slug: d for d in cat.devices}
    return cat, fit([*load_measurements(), *extra], Catalog(devices=list(devices.values())))


def _footer(estimates: list[Estimate], fps: float | None, streams: int, include_undeployable: bool) -> None:
    if fps is not None:
        meeting = sum(1 for e in estimates if e.meets)
        err.print(
            f"{meeting} of {len(estimates)} options meet {fps:g} FPS x {streams} stream(s) "
            "and the limits given"
        )
    err.print("predictions: latency model calibrated on published measurements (docs/hardware.md)")
    if not include_undeployable and not all(e.deployable for e in estimates):
        err.print(
            "deploy 'no': edgeloop has no backend for that runtime yet; those options meet no need "
            "unless --include-undeployable"
        )


def _table(rows: list[Estimate], model: str, gflops: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model} ({gflops:.2f} GFLOPs at its input size)", title_justify="left")
    columns = ("#", "device", "runtime", "deploy", "prec", "imgsz", "ms", "FPS", "headroom", "$", "W", "note")
    for col in columns:
        table.add_column(col, justify="left" if col in ("device", "runtime", "prec", "note") else "right")
    for i, e in enumerate(rows, 1):
        note = "; ".join(e.reasons) if e.reasons else ("needs INT8" if e.needs_int8 else "")
        if e.needs_int8 and e.accuracy_cost is not None:
            note += f" (mAP -{e.accuracy_cost:.3f})"
        if not e.runtime_calibrated:
            note += f"{'; ' if note else ''}no {e.runtime} measurements: extrapolated from {e.calibration}"
        table.add_row(
            str(i),
            e.device,
            e.runtime,
            "yes" if e.deployable else "no",
            e.precision,
            str(e.imgsz or "-"),
            f"{e.latency_ms:.1f}",
            f"{e.fps:.1f}",
            f"{e.headroom:.2f}x" if e.headroom is not None else "-",
            f"{e.price_usd:g}" if e.price_usd is not None else "?",
            f"{e.power_w:g}" if e.power_w is not None else "?",
            note,
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    console.print(table)
