"""The training step of a retrain job: ``Trainer`` from the current model's checkpoint when this
build can fine-tune (``TrainConfig.init``), else from scratch with the same call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeloop.retrain.params import TrainSettings

if TYPE_CHECKING:
    from edgeloop.retrain.job import CurrentModel


def _config(settings: TrainSettings, data: Path, out: Path, init: Path | None) -> Any:
    from edgeloop.train.config import TrainConfig

    values: dict[str, Any] = {
        "data": str(data),
        "out": str(out),
        "model": settings.model,
        "epochs": settings.epochs,
        "time_s": settings.time_s,
        "imgsz": settings.imgsz,
        "batch": settings.batch,
        "seed": settings.seed,
        "threads": settings.threads,
        "device": settings.device,
        "mosaic": settings.mosaic,
        "task": "detect",
    }
    if settings.lr is not None:
        values["lr"] = settings.lr
    if init is not None:
        values["init"] = str(init)
        if settings.freeze is not None:
            values["freeze"] = settings.freeze
    return TrainConfig(**values)


def _preset(checkpoint: Path) -> str | None:
    from edgeloop.train.checkpoint import load

    config = load(checkpoint).get("config") or {}
    preset = config.get("model")
    return preset if isinstance(preset, str) else None


def train(
    settings: TrainSettings,
    data: Path,
    out: Path,
    current: CurrentModel | None,
    on_fraction: Callable[[float], None],
    log: Callable[[str], None],
) -> tuple[Path, str | None]:
    """Train into ``out``; the run folder and what it started from (a checkpoint path, or None)."""
    from edgeloop.train.config import TrainConfig
    from edgeloop.train.loop import Progress, Trainer

    init: Path | None = None
    if settings.init and current is not None:
        if current.checkpoint is None:
            log(
                f"the current model (version {current.version}) has no training checkpoint: "
                "training from scratch"
            )
        elif "init" not in TrainConfig.model_fields:
            log("this build cannot fine-tune (no TrainConfig.init): training from scratch")
        else:
            init = current.checkpoint
            preset = _preset(init)
            if preset is not None and preset != settings.model:
                settings = settings.model_copy(update={"model": preset})
    config = _config(settings, data, out, init)
    started = time.perf_counter()
    state = {"epochs": float(config.epochs), "steps": 1.0, "epoch": 0.0}

    def fraction(step: float) -> float:
        by_steps = (state["epoch"] + step / state["steps"]) / state["epochs"]
        by_time = (time.perf_counter() - started) / config.time_s if config.time_s else 0.0
        return max(by_steps, by_time)

    def on_start(epochs: int, steps: int) -> None:
        state["epochs"], state["steps"] = float(epochs), float(max(steps, 1))

    def on_epoch(row: dict[str, float]) -> None:
        state["epoch"] += 1
        on_fraction(fraction(0))
        shown = {k: round(v, 4) for k, v in row.items() if k in ("epoch", "loss", "map50", "map50_95")}
        log(f"epoch {shown}")

    progress = Progress(
        on_start=on_start,
        on_step=lambda step, loss, lr: on_fraction(fraction(step)),
        on_epoch=on_epoch,
        on_message=log,
    )
    if init is not None:
        log(f"fine-tuning from {init.name} ({settings.model})")
    result = Trainer(config, progress).fit()
    log(
        f"training ended ({result.stopped}) after {result.epochs} epochs in {result.seconds:.0f} s: "
        f"{result.best}"
    )
    return out, None if init is None else str(init)
