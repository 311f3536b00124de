"""``edgeloop export``: turn a training run into a bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.errors import TrainError

MOSTLY_BLIND = 0.5  # warn when the model finds nothing on more than this share of labelled images


@handle_errors
def export(
    run: Path = typer.Argument(..., help="Run folder made by edgeloop train."),
    out: Path = typer.Option(..., "--out", help="New bundle folder to write."),
    name: str | None = typer.Option(None, "--name", help="Bundle name (default: the run folder's name)."),
    samples: int = typer.Option(3, "--samples", min=0, help="Validation images to keep as golden samples."),
) -> None:
    """Export the run's best checkpoint to a bundle (ONNX, opset 17, dynamic batch)."""
    try:
        from edgeloop.export.onnx import export_run
    except ImportError as exc:
        raise TrainError(
            f"export needs torch and onnx ({exc.name} is missing): pip install 'edgeloop[train]'"
        ) from None

    report = export_run(run, out, name=name, samples=samples)
    manifest = report.bundle.manifest
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in manifest.metrics.items()) or "no validation yet"
    err.print(
        f"exported {report.checkpoint} ({report.parameters:,} parameters) to {out}: "
        f"{manifest.task}, {len(manifest.names)} classes, imgsz {manifest.input.size_hw[0]}, {metrics}"
    )
    err.print(
        f"ONNX Runtime vs torch: max abs diff {report.max_abs_diff:.2e}; {len(manifest.samples)} samples"
    )
    if report.blind is not None and report.blind.fraction > MOSTLY_BLIND:
        blind = report.blind
        err.print(
            f"warning: at its default threshold (conf {blind.conf:g}) the model finds nothing on "
            f"{blind.empty} of {blind.images} validation images with objects ({blind.fraction:.0%}): "
            f"train longer (edgeloop train --resume {run} with a larger --time or --epochs), "
            f"or lower the threshold (edgeloop predict --conf 0.05) and check the results"
        )
    stdout_line(str(out))
