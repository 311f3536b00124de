"""The live display of ``edgeloop train``: a progress bar per epoch and one line per validation."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from edgeloop.train.loop import Progress as Hooks
    from edgeloop.train.loop import Trainer


class TrainDisplay:
    """Draws training progress on ``console`` (stderr); plain lines when it is not a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  lr {task.fields[lr]:.2e}  {task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.steps = 0
        self.epoch = 0
        self.started = time.perf_counter()
        self.metric_names: list[str] = []

    def __enter__(self) -> TrainDisplay:
        self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.stop()

    def describe(self, trainer: Trainer) -> None:
        cfg = trainer.config
        budget = f", time budget {cfg.time_s:.0f} s" if cfg.time_s else ""
        self.console.print(
            f"training {cfg.model} ({trainer.task}, {len(trainer.names)} classes) on "
            f"{len(trainer.train_ds)} images, validating on {len(trainer.val_ds)}; "
            f"imgsz {cfg.imgsz}, batch {cfg.batch}, up to {cfg.epochs} epochs{budget}, "
            f"device {trainer.device}{_processes(trainer)}"
        )
        self.epoch = trainer.epoch

    def hooks(self) -> Hooks:
        from edgeloop.train.loop import Progress as Hooks

        return Hooks(on_start=self._start, on_step=self._step, on_epoch=self._epoch, on_message=self._message)

    def _start(self, epochs: int, steps: int) -> None:
        self.steps = steps
        self._new_bar()

    def _new_bar(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task("", total=self.steps, epoch=self.epoch + 1, loss=0.0, lr=0.0, rate="")
        self.epoch_started = time.perf_counter()

    def _step(self, step: int, loss: float, lr: float) -> None:
        if self.task is None:
            return
        rate = step * 1.0 / max(time.perf_counter() - self.epoch_started, 1e-9)
        self.bar.update(self.task, completed=step, loss=loss, lr=lr, rate=f"{rate:.1f} steps/s")

    def _epoch(self, row: dict[str, float]) -> None:
        self.epoch = int(row["epoch"])
        metrics = {k: v for k, v in row.items() if k in ("map50", "map50_95", "top1", "top5")}
        shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.console.print(
            f"epoch {self.epoch:>3}  loss {row['loss']:.3f}  {shown}  [{row['seconds']:.0f} s]",
            highlight=False,
        )
        self._new_bar()

    def _message(self, text: str) -> None:
        self.console.print(text, highlight=False)


def _processes(trainer: Trainer) -> str:
    """Under torchrun: how the global batch splits over the processes."""
    world = trainer.world
    if not world.active:
        return ""
    return f" (rank 0 of {world.size} processes, {trainer.config.batch // world.size} images each per step)"
