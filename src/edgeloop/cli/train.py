"""``edgeloop train``: train a detector or classifier on a dataset, on the CPU or a GPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from edgeloop.cli.common import err, error_line, handle_errors, stdout_line
from edgeloop.errors import ConfigError

# TrainConfig fields whose flag is not "--" + the field name.
_TRAIN_FLAGS = {"time_s": "--time", "data": "DATA"}


def _config(
    data: Path | None, out: Path | None, resume: Path | None, given: dict[str, Any], force: bool | None
) -> Any:
    """The run's settings; ``force`` None: leave the run folder to rank 0 (under torchrun)."""
    from pydantic import ValidationError

    from edgeloop.train.config import TrainConfig
    from edgeloop.train.runs import prepare_new_run, resume_values
    from edgeloop.validation import format_validation_error

    values: dict[str, Any]
    if resume is not None:
        values = resume_values(resume, data, out, given)
    else:
        if data is None or out is None:
            raise ConfigError("give a dataset and --out RUN (or --resume RUN to continue a run)")
        values = {"data": str(data), "out": str(out), **given}
    try:
        config = TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "flag", flags=_TRAIN_FLAGS)) from None
    if resume is None and force is not None:
        prepare_new_run(config.run_dir, force)
    return config


def train(
    data: Path | None = typer.Argument(
        None, help="Dataset folder (with train/ and val/ subsets, or split here)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Run folder for checkpoints and results.csv."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Preset: nano (under 1 M parameters), small, or edge (1.1 M, made for INT8) [nano].",
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Passes over the training set [30]."),
    time_budget: float | None = typer.Option(
        None, "--time", min=1, help="Wall-clock budget in seconds, in total; the schedule is fitted to it."
    ),
    imgsz: int | None = typer.Option(None, "--imgsz", help="Square input size (a multiple of 32) [320]."),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Images per step [8]."),
    lr: float | None = typer.Option(
        None, "--lr", help="Peak learning rate (AdamW) [0.002; 0.0005 with --init]."
    ),
    patience: int | None = typer.Option(
        None, "--patience", min=1, help="Stop after this many epochs without gain [10]."
    ),
    device: str | None = typer.Option(None, "--device", help="auto (a GPU when present), cpu, cuda, cuda:1."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for torch."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed [0]."),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Fine-tune: start from this run folder, checkpoint or exported bundle "
        "(classes merged by name; --lr defaults to 0.0005).",
    ),
    freeze: float | None = typer.Option(
        None, "--freeze", help="Fraction of the run with the backbone frozen [0; 0.2 with --init]."
    ),
    replay: Path | None = typer.Option(
        None, "--replay", help="Earlier dataset folder mixed into every epoch, so old data is not forgotten."
    ),
    replay_share: float | None = typer.Option(
        None, "--replay-share", help="Share of each epoch's images drawn from --replay [0.3]."
    ),
    resume: Path | None = typer.Option(None, "--resume", help="Continue the run in this folder."),
    force: bool = typer.Option(False, "--force", help="Train over an existing run in --out (deletes it)."),
) -> None:
    """Train a model; Ctrl-C stops it and keeps the best checkpoint for `edgeloop export`."""
    options = {"model": model, "imgsz": imgsz, "batch": batch, "lr": lr, "patience": patience, "seed": seed}
    options |= {"epochs": epochs, "time_s": time_budget, "device": device, "threads": threads}
    options |= {
        "init": str(init) if init else None,
        "freeze": freeze,
        "replay": str(replay) if replay else None,
    }
    options |= {"replay_share": replay_share}
    given = {key: value for key, value in options.items() if value is not None}
    if os.environ.get("RANK", "0") == "0":  # a single process, or rank 0 under torchrun
        _train(data, out, resume, given, force)
    else:
        _train_quietly(data, out, resume, given)


@handle_errors
def _train(
    data: Path | None, out: Path | None, resume: Path | None, given: dict[str, Any], force: bool
) -> None:
    config = _config(data, out, resume, given, force)
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
    if result.stopped == "time" and config.time_s:
        more = round(result.seconds + max(config.time_s, 60))
        err.print(f"to train on: edgeloop train --resume {result.run} --time {more} (--time is the total)")
    _plot_curves(result.run)
    err.print(f"next: edgeloop export {result.run} --out BUNDLE")
    stdout_line(str(result.run))
    if result.stopped == "interrupted":
        raise typer.Exit(130)  # as for any Ctrl-C, but with every checkpoint saved


def _train_quietly(data: Path | None, out: Path | None, resume: Path | None, given: dict[str, Any]) -> None:
    """A process other than rank 0 under torchrun: rank 0 reports progress and errors.

    Its errors are the same as rank 0's (same flags, same data) on rank 0's machine;
    on another machine its first process prints them, naming the machine.
    """
    from edgeloop.errors import EdgeloopError
    from edgeloop.train.loop import Trainer

    try:
        config = _config(data, out, resume, given, None)
        Trainer(config, resume=resume is not None).fit()
    except EdgeloopError as exc:
        node = os.environ.get("GROUP_RANK", "0")
        if os.environ.get("LOCAL_RANK") == "0" and node != "0":
            error_line(f"node {node}: {exc}".replace("[", "\\["))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _plot_curves(run: Path) -> None:
    from edgeloop.errors import EdgeloopError
    from edgeloop.train.curves import plot_results

    try:
        path = plot_results(run)
    except EdgeloopError as exc:  # the run is saved either way; a missing chart must not fail it
        err.print(f"no training chart: {exc}")
        return
    if path is not None:
        err.print(f"wrote {path}")
