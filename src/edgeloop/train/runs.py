"""Run folders: refuse to train over an earlier run, and check what ``--resume`` is given.

A run folder holds hours of work; ``edgeloop train --out RUN`` must not wipe it
by accident, and ``--resume RUN`` continues RUN with its own settings, so any
argument that says otherwise is an error rather than silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeloop.errors import ConfigError, TrainError

# The files `edgeloop train` writes; --force removes only these, never anything else in the folder.
RUN_FILES = ("args.json", "results.csv", "results.png", "weights/best.pt", "weights/last.pt")
# Settings a resumed run may change; the others decide what the checkpoint is.
CHANGEABLE = ("epochs", "time_s", "device", "threads")
FLAGS = {"time_s": "--time", "model": "--model", "imgsz": "--imgsz", "batch": "--batch", "lr": "--lr"}


def flag(key: str) -> str:
    """The command-line flag of a ``TrainConfig`` field."""
    return FLAGS.get(key, f"--{key.replace('_', '-')}")


def prepare_new_run(out: Path, force: bool) -> None:
    """Refuse an existing, non-empty ``out`` unless ``force``; with it, remove the earlier run's files.

    Raises:
        TrainError: ``out`` is not an empty folder and ``force`` is not set.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise TrainError(f"--out {out} is a file: choose a new run folder")
    if not any(out.iterdir()):
        return
    if not force:
        if (out / "args.json").is_file():
            raise TrainError(
                f"{out} already holds a training run: continue it with --resume {out}, "
                f"train over it with --force (its checkpoints are deleted), or choose a new --out"
            )
        raise TrainError(f"{out} exists and is not empty: choose a new --out, or pass --force to train there")
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def resume_values(run: Path, data: Path | None, out: Path | None, given: dict[str, Any]) -> dict[str, Any]:
    """The settings of the run in ``run``, with the changes the command line may make.

    Raises:
        TrainError: ``run`` is not a run folder.
        ConfigError: DATA, ``--out`` or a fixed setting disagree with the run.
    """
    args = run / "args.json"
    if not args.is_file():
        raise TrainError(f"{run}: no args.json; --resume takes a run folder made by edgeloop train")
    values: dict[str, Any] = json.loads(args.read_text())
    if data is not None and Path(values["data"]).resolve() != data.resolve():
        raise ConfigError(
            f"--resume {run} continues on its own dataset {values['data']}, not {data}: drop DATA to resume, "
            f"or start a new run on {data} with --out NEW"
        )
    if out is not None and out.resolve() != run.resolve():
        raise ConfigError(
            f"--resume {run} writes into {run}, not --out {out}: drop --out to resume in place, "
            f"or copy the run first (cp -r {run} {out}) and resume the copy"
        )
    fixed = [(k, v) for k, v in given.items() if k not in CHANGEABLE and values.get(k) != v]
    if fixed:
        shown = ", ".join(f"{flag(k)} {v} (the run has {values.get(k)})" for k, v in fixed)
        raise ConfigError(
            f"--resume {run} keeps the run's settings: {shown}; drop them, or start a new run with --out NEW "
            f"(a resumed run may change only --epochs, --time, --device and --threads)"
        )
    values.update({k: v for k, v in given.items() if k in CHANGEABLE})
    values["out"] = str(run)  # the folder may have been moved or copied since
    return values


def check_budget_left(run: Path, epoch: int, elapsed_s: float, epochs: int, time_s: float | None) -> None:
    """Refuse to resume a run that has nothing left to do, saying how to give it more.

    Raises:
        TrainError: ``epoch`` reached ``epochs``, or ``elapsed_s`` reached ``time_s``.
    """
    if epoch >= epochs:
        raise TrainError(
            f"{run} already trained its {epochs} epochs: resume with a larger total, "
            f"e.g. --resume {run} --epochs {epochs + max(epochs // 2, 1)}"
        )
    if time_s is not None and elapsed_s >= time_s:
        spent = f"{elapsed_s:.1f}" if elapsed_s < 100 else f"{elapsed_s:.0f}"
        raise TrainError(
            f"{run} already spent its time budget ({spent} s of --time {time_s:g}, "
            f"{epoch} epochs): --time is the run's total, so pass more than {spent}, "
            f"e.g. --resume {run} --time {round(elapsed_s + max(time_s, 60))}"
        )
