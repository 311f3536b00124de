"""``edgeloop demo``: the whole loop on synthetic data, with nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import handle_errors
from edgeloop.errors import TrainError


@handle_errors
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo's files."),
    time_s: float = typer.Option(280.0, "--time", min=1, help="Training budget in seconds."),
    train_images: int = typer.Option(800, "--train-images", min=8, help="Synthetic training images."),
    val_images: int = typer.Option(200, "--val-images", min=2, help="Synthetic validation images."),
    imgsz: int = typer.Option(224, "--imgsz", min=64, max=2048, help="Model input size (a multiple of 32)."),
) -> None:
    """Synthesize a dataset, train a nano detector, export, evaluate, and predict on held-out images."""
    try:
        from edgeloop.demo import DemoConfig, run_demo
        from edgeloop.train import model  # noqa: F401  (torch is needed from here on)
    except ImportError as exc:
        raise TrainError(
            f"the demo trains a model and needs {exc.name}: pip install 'edgeloop[train,eval]'"
        ) from None

    run_demo(out, DemoConfig(train_images=train_images, val_images=val_images, imgsz=imgsz, time_s=time_s))
