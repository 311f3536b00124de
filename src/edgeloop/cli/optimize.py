"""``edgeloop optimize``: INT8 / FP16 / OpenVINO variants in a new bundle, measured and gated."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line

if TYPE_CHECKING:
    from edgeloop.optimize import OptimizeReport


@handle_errors
def optimize(
    bundle: Path = typer.Argument(..., help="Source bundle folder or .tar (only read)."),
    out: Path = typer.Option(..., "--out", "-o", help="New bundle folder to write."),
    int8: bool = typer.Option(False, "--int8", help="Static INT8 (QDQ, per channel) with ONNX Runtime."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 weights, float32 inputs/outputs (for GPUs)."),
    openvino: bool = typer.Option(False, "--openvino", help="OpenVINO IR copies (model.xml + .bin)."),
    ncnn: bool = typer.Option(False, "--ncnn", help="An ncnn copy (FP32, converted with pnnx) for Arm CPUs."),
    calib: Path | None = typer.Option(None, help="Calibration images: a dataset or a folder of images."),
    calib_images: int = typer.Option(200, min=1, help="How many calibration images to use."),
    method: str = typer.Option("minmax", help="Calibration: minmax, entropy or percentile."),
    activations: str = typer.Option("u8", help="INT8 activation type: u8 (x86/ARM CPUs) or s8."),
    weights: str = typer.Option("s8", help="INT8 weight type: s8 or u8."),
    eval_dataset: Path | None = typer.Option(
        None, "--eval", help="Held-out dataset: mAP per variant, and the accuracy gate."
    ),
    max_drop: float = typer.Option(
        1.0, min=0, help="mAP50-95 points a variant may lose against FP32 and still become the default."
    ),
    runs: int = typer.Option(30, min=3, help="Interleaved latency rounds."),
    target: str | None = typer.Option(
        None, help="A device's model: myriad (OAK RVC2, NCS2; compiles with Docker) or rvc4 (OAK4, --dlc)."
    ),
    dlc: Path | None = typer.Option(None, "--dlc", help="--target rvc4: the .dlc Luxonis' tools compiled."),
    shaves: int = typer.Option(6, min=1, max=16, help="--target myriad: SHAVE cores the blob uses."),
    from_recipe: Path | None = typer.Option(
        None, "--from-recipe", help="--target myriad: take what a --print-recipe folder's run.sh compiled."
    ),
    print_recipe: bool = typer.Option(
        False,
        "--print-recipe",
        help="--target myriad: write the recipe into --out (no Docker).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Make faster variants of a bundle's model, measure them against FP32, and gate the default."""
    from pydantic import ValidationError

    from edgeloop.errors import ConfigError
    from edgeloop.export.quantize import QuantizeConfig
    from edgeloop.optimize import OptimizeOptions
    from edgeloop.optimize import optimize as run_optimize
    from edgeloop.validation import format_validation_error

    if target is not None or print_recipe or from_recipe is not None or dlc is not None:
        from edgeloop.cli.optimize_target import TargetFlags, optimize_target, refuse_variant_flags

        variant_flags = {"--int8": int8, "--fp16": fp16, "--openvino": openvino, "--ncnn": ncnn}
        variant_flags.update({"--calib": calib is not None, "--eval": eval_dataset is not None})
        refuse_variant_flags(target, [flag for flag, given in variant_flags.items() if given])
        optimize_target(bundle, out, target, TargetFlags(shaves, print_recipe, from_recipe, dlc), as_json)
        return
    try:
        quantize = QuantizeConfig(method=method, activations=activations, weights=weights)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "flag")) from None
    options = OptimizeOptions(
        int8=int8,
        fp16=fp16,
        openvino=openvino,
        ncnn=ncnn,
        calib=calib,
        calib_images=calib_images,
        quantize=quantize,
        eval=eval_dataset,
        max_drop=max_drop,
        latency_runs=runs,
    )
    report = run_optimize(bundle, out, options)
    if as_json:
        data = asdict(report)
        data["out"] = str(report.out)
        stdout_line(json.dumps(data))
    _print_table(report)
    for warning in report.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}", markup=True, highlight=False)
    err.print(f"bundle written to {report.out}; default variant: {report.default_variant}", highlight=False)


def _print_table(report: OptimizeReport) -> None:
    """One line per variant on stderr; latency is the median of interleaved runs."""
    err.print(
        f"{'variant':<26} {'precision':<9} {'backend':<12} {'mAP50':>6} {'mAP50-95':>8} "
        f"{'latency':>9} {'vs fp32':>7}  gate",
        highlight=False,
    )
    for v in report.variants:
        m = v.metrics
        map50 = f"{m['map50'] * 100:.1f}" if "map50" in m else "-"
        map50_95 = f"{m['map50_95'] * 100:.1f}" if "map50_95" in m else "-"
        gate = {None: "-", True: "ok", False: "refused"}[v.accepted]
        err.print(
            f"{v.file:<26} {v.precision:<9} {v.backend:<12} {map50:>6} {map50_95:>8} "
            f"{m['latency_ms']:>6.1f} ms {m['speedup_vs_fp32']:>6.2f}x  {gate}",
            highlight=False,
        )
