"""``edgeloop demo``: the whole loop on synthetic data, with nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeloop.cli.common import handle_errors
from edgeloop.errors import TrainError


@handle_errors
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo's files."),
    time_s: float = typer.Option(150.0, "--time", min=1, help="First training's budget in seconds."),
    train_images: int = typer.Option(800, "--train-images", min=8, help="Synthetic training images."),
    val_images: int = typer.Option(200, "--val-images", min=2, help="Synthetic validation images."),
    imgsz: int = typer.Option(224, "--imgsz", min=64, max=2048, help="Model input size (a multiple of 32)."),
    field: bool = typer.Option(
        True,
        "--field/--no-field",
        help="After the first round, the field round (hub, device, retrain, rollout).",
    ),
    field_frames: int = typer.Option(
        320, "--field-frames", min=4, help="Frames of the shifted-domain video."
    ),
    label_budget: int = typer.Option(
        160, "--label-budget", min=4, help="Frames the device keeps for labelling."
    ),
    finetune_time_s: float = typer.Option(
        110.0, "--finetune-time", min=1, help="Fine-tune budget in seconds."
    ),
    shifted_test: int = typer.Option(
        200, "--shifted-test-images", min=2, help="Held-out shifted-domain images scored before and after."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch threads of both trainings."),
) -> None:
    """Synthesize a dataset, train a nano detector, export, evaluate, predict; then a field round:
    a hub and a device, a shifted domain, capture, labelling, retrain, gate, sign, rollout."""
    try:
        from edgeloop.demo import DemoConfig, run_demo
        from edgeloop.train import model  # noqa: F401  (torch is needed from here on)

        if field:
            import sqlalchemy  # noqa: F401  (the hub)
            import uvicorn  # noqa: F401
            import yaml  # noqa: F401  (the capture policy)
    except ImportError as exc:
        raise TrainError(
            f"the demo trains a model and runs a hub; it needs {exc.name}: "
            "pip install 'edgeloop[train,hub,stream]'"
        ) from None

    cfg = DemoConfig(
        train_images=train_images,
        val_images=val_images,
        imgsz=imgsz,
        time_s=time_s,
        field=field,
        field_frames=field_frames,
        label_budget=label_budget,
        finetune_time_s=finetune_time_s,
        shifted_test_images=shifted_test,
        threads=threads,
    )
    run_demo(out, cfg)
