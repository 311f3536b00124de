"""``edgeloop train``: train a detector or classifier on a dataset, on the CPU or a GPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from edgeloop.cli.common import err, handle_errors, stdout_line
from edgeloop.errors import ConfigError, TrainError

# TrainConfig fields whose flag is not "--" + the field name.
_TRAIN_FLAGS = {"time_s": "--time", "data": "DATA"}


def _config(data: Path | None, out: Path | None, resume: Path | None, given: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from edgeloop.train.config import TrainConfig
    from edgeloop.validation import format_validation_error

    values: dict[str, Any]
    if resume is not None:
        args = resume / "args.json"
        if not args.is_file():
            raise TrainError(f"{resume}: no args.json; --resume takes a run folder made by edgeloop train")
        values = json.loads(args.read_text())
        values.update({k: v for k, v in given.items() if k in ("epochs", "time_s", "device", "threads")})
    else:
        if data is None or out is None:
            raise ConfigError("give a dataset and --out RUN (or --resume RUN to continue a run)")
        values = {"data": str(data), "out": str(out), **given}
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "flag", flags=_TRAIN_FLAGS)) from None


def train(
    data: Path | None = typer.Argument(
        None, help="Dataset folder (with train/ and val/ subsets, or split here)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder for checkpoints and results.csv."),
    model: str = typer.Option(
        "nano", "--model", help="Preset: nano (under 1 M parameters), small, or edge (1.1 M, made for INT8)."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Passes over the training set [30]."),
    time_budget: float | None = typer.Option(
        None, "--time", min=1, help="Wall-clock budget in seconds; the schedule is fitted to it."
    ),
    imgsz: int = typer.Option(320, "--imgsz", help="Square input size (a multiple of 32)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Images per step."),
    lr: float = typer.Option(0.002, "--lr", help="Peak learning rate (AdamW)."),
    patience: int = typer.Option(10, "--patience", min=1, help="Stop after this many epochs without gain."),
    device: str | None = typer.Option(None, "--device", help="auto (a GPU when present), cpu, cuda, cuda:1."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this folder."),
) -> None:
    """Train a model; Ctrl-C stops it and keeps the best checkpoint for `edgeloop export`."""
    given: dict[str, Any] = {"model": model, "imgsz": imgsz, "batch": batch, "lr": lr, "patience": patience}
    given |= {"seed": seed}
    for key, value in (("epochs", epochs), ("time_s", time_budget), ("device", device), ("threads", threads)):
        if value is not None:
            given[key] = value
    _train(data, out, resume, given)


@handle_errors
def _train(data: Path | None, out: Path | None, resume: Path | None, given: dict[str, Any]) -> None:
    config = _config(data, out, resume, given)
    from edgeloop.cli.train_progress import TrainDisplay
    from edgeloop.train.loop import Trainer

    with TrainDisplay(err) as display:
        trainer = Trainer(config, display.hooks(), resume=resume is not None)
        display.describe(trainer)
        result = trainer.fit()
    best = ", ".join(f"{k} {v:.4f}" for k, v in result.best.items() if k != "epoch")
    how = {
        "finished": "finished",
        "time": "time budget spent",
        "early-stop": f"stopped early (no gain for {config.patience} epochs)",
        "interrupted": "interrupted; last.pt saved",
    }[result.stopped]
    err.print(f"{how} after {result.epochs} epochs in {result.seconds:.0f} s; best: {best or 'none yet'}")
    err.print(f"next: edgeloop export {result.run} --out BUNDLE")
    stdout_line(str(result.run))
    if result.stopped == "interrupted":
        raise typer.Exit(130)  # as for any Ctrl-C, but with every checkpoint saved
