"""``edgeloop bench``: measure a bundle on this machine, one JSON schema for every target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from edgeloop.cli.backend_options import backend_settings, backends_option, device_option, threads_option
from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.errors import EdgeloopError


@handle_errors
def bench(
    bundle: Path | None = typer.Argument(None, help="Bundle folder or .tar."),
    backend: list[str] = backends_option(),
    precision: list[str] = typer.Option(
        [], help="Variant precision to run (repeat; default: every variant)."
    ),
    imgsz: int | None = typer.Option(
        None, min=32, help="Check the bundle's input size is this (bundles have a fixed input size)."
    ),
    runs: int = typer.Option(30, min=1, help="Timed runs per combination."),
    warmup: int = typer.Option(5, min=0, help="Untimed runs first."),
    threads: int = threads_option(),
    device: str | None = device_option(),
    image: Path | None = typer.Option(None, help="Time this image (default: a synthetic 1280x720 JPEG)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (see --schema)."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON Schema of the report and exit."),
    record: Path | None = typer.Option(
        None, help="Append the infer p50s to this measurement file, for `edgeloop advise --measurements`."
    ),
    as_device: str | None = typer.Option(
        None, "--as-device", help="With --record: the catalog slug of this machine, e.g. raspberry-pi-5."
    ),
) -> None:
    """Latency per stage (p50/p95), FPS and peak memory of a bundle here."""
    from edgeloop.hardware.bench import bench_bundle, report_schema

    if schema:
        stdout_line(json.dumps(report_schema(), indent=1))
        return
    if bundle is None:
        raise EdgeloopError("missing BUNDLE: edgeloop bench my-bundle (or --schema)")
    from edgeloop.bundle import load_bundle

    configs = [backend_settings(name, device, threads) for name in backend]
    loaded = load_bundle(bundle)
    size = loaded.manifest.input.size_hw
    if imgsz is not None and tuple(size) != (imgsz, imgsz):
        raise EdgeloopError(
            f"bundle input is {size[1]}x{size[0]}, not {imgsz}: export the model at {imgsz} and import it "
            "as another bundle to benchmark that size"
        )
    if record is not None and as_device is None:
        raise EdgeloopError("--record needs --as-device SLUG: which catalogued device is this machine?")
    data = image.read_bytes() if image is not None else None
    err.print(f"benchmarking {loaded.manifest.name}: {warmup} warm-up + {runs} timed runs per combination")
    report = bench_bundle(loaded, configs, precision or None, warmup, runs, data)
    for skip in report.skipped:
        err.print(f"skipped {skip.variant} on {skip.backend}: {skip.reason}", markup=False)
    if record is not None and as_device is not None:
        _record(report, bundle, record, as_device, device or "cpu")
    if as_json:
        stdout_line(report.model_dump_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.bundle} on {report.host.machine} ({report.host.cpu_count} CPUs)")
    for col in (
        "variant",
        "backend",
        "decode",
        "preproc",
        "infer",
        "postproc",
        "total p50",
        "p95",
        "FPS",
        "RSS MB",
    ):
        table.add_column(col, justify="left" if col in ("variant", "backend") else "right")
    for r in report.results:
        s = r.stages
        table.add_row(
            r.variant,
            r.backend,
            *(f"{s[k].p50_ms:.2f}" for k in ("decode", "preprocess", "infer", "postprocess", "total")),
            f"{s['total'].p95_ms:.2f}",
            f"{r.fps:.1f}",
            f"{r.peak_rss_mb:.0f}",
        )
    Console(highlight=False).print(table)
    err.print("stage times are p50 in ms")


def _record(report: Any, bundle: Path, path: Path, slug: str, device: str) -> None:
    from edgeloop.cli.profile import load_profile
    from edgeloop.hardware.bench import to_measurements
    from edgeloop.hardware.catalog import Unit, load_catalog
    from edgeloop.hardware.predict import save_measurements

    load_catalog().device(slug)  # an unknown slug fails here, listing the known ones
    p = load_profile(bundle, None, None)
    unit: Unit = "cpu" if device.lower() == "cpu" else "gpu"
    rows = to_measurements(report, p.gflops, p.params, slug, unit, report.bundle)
    save_measurements(rows, path)
    err.print(f"recorded {len(rows)} measurement(s) for {slug} in {path}")
