"""The training loop: AdamW, warmup + cosine schedule, EMA weights, validation every epoch.

The schedule runs on *progress* in [0, 1]: the larger of the fraction of
iterations done and, with a time budget, the fraction of the budget spent. A
``--time`` run therefore anneals fully within its budget, whatever the
machine's speed. Ctrl-C saves ``last.pt`` and returns; ``best.pt`` holds the
best validated weights so far.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeloop.data.dataset import Dataset
from edgeloop.errors import TrainError
from edgeloop.train import checkpoint, distributed, finetune, runs
from edgeloop.train.augment import AugmentConfig
from edgeloop.train.config import TrainConfig
from edgeloop.train.data import Batch, epoch_batches, load_samples, prefetch
from edgeloop.train.loss import detection_loss
from edgeloop.train.model import Classifier, Detector, anchor_points
from edgeloop.train.split import train_val
from edgeloop.train.validate import ValSet, validate

FIELDS = ["epoch", "seconds", "images", "lr", "loss_box", "loss_cls", "loss_dfl", "loss"]


@dataclass
class Progress:
    """What the loop reports: called after every step and every epoch."""

    on_start: Callable[[int, int], None] = lambda epochs, steps: None
    on_step: Callable[[int, float, float], None] = lambda step, loss, lr: None
    on_epoch: Callable[[dict[str, float]], None] = lambda row: None
    on_message: Callable[[str], None] = lambda text: None


@dataclass
class Result:
    """How a run ended."""

    run: Path
    epochs: int
    best: dict[str, float] = field(default_factory=dict)
    stopped: str = "finished"  # finished | time | early-stop | interrupted
    seconds: float = 0.0


class EMA:
    """Exponential moving average of weights, ramped in so early averages are not stale."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = updates
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        # Short runs matter here: the average spans ~updates/10 steps early on, up to 1 / (1 - decay).
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        theirs = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(theirs[name].detach(), alpha=1 - d)
            else:
                value.copy_(theirs[name])


def learning_rate(config: TrainConfig, progress: float) -> float:
    """Linear warmup, then cosine from ``lr`` to ``lr * final_lr``."""
    if config.warmup and progress < config.warmup:
        return config.lr * max(progress / config.warmup, 0.01)
    t = (progress - config.warmup) / max(1 - config.warmup, 1e-9)
    cosine = 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return config.lr * (config.final_lr + (1 - config.final_lr) * cosine)


def pick_device(name: str) -> torch.device:
    """``auto`` takes a CUDA GPU when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"--device {name}: no CUDA GPU visible to torch; use --device cpu or auto")
    return torch.device(name)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999))


class Trainer:
    """One training run; ``fit()`` trains, validates, checkpoints and writes results.csv."""

    def __init__(self, config: TrainConfig, progress: Progress | None = None, resume: bool = False) -> None:
        self.config = config
        self.progress = progress or Progress()
        self.run = config.run_dir
        self.world = distributed.from_env()
        distributed.check_batch(config.batch, self.world)
        self.device = distributed.rank_device(pick_device(config.device), self.world)
        threads = config.threads or distributed.default_threads(self.world, self.device)
        if threads:
            torch.set_num_threads(threads)
        self.train_ds, self.val_ds = train_val(config)
        self.task = self.train_ds.task
        self.names = list(self.train_ds.names)
        start = finetune.Start.open(config, self.names, self.task, resume) if config.init else None
        if start is not None:  # fine-tuning: the parent's network and merged class list
            self.progress.on_message(finetune.describe(start, self.names))
            self.config = config = start.config
            self.names = start.names
            self.train_ds, self.val_ds = (
                finetune.remap(ds, self.names) for ds in (self.train_ds, self.val_ds)
            )
        self.parent = start.parent_id if start else None
        torch.manual_seed(config.seed)
        self.model = checkpoint.build_model(self.task, len(self.names), config.model).to(self.device)
        if start is not None and start.parent is not None:
            finetune.transfer(self.model, start.parent, self.names)
        self.net: nn.Module = self.model  # what the forward pass runs: the model, or DDP around it
        self.frozen = False
        self.optimizer = _optimizer(self.model, config)
        self.ema = EMA(self.model, config.ema)
        self.epoch = 0
        self.elapsed_s = 0.0
        self.best: dict[str, float] = {}
        if resume:
            self._resume()

    @property
    def ema_model(self) -> Detector | Classifier:
        model = self.ema.model
        assert isinstance(model, (Detector, Classifier))
        return model

    @property
    def metric(self) -> str:
        return "map50_95" if self.task == "detect" else "top1"

    def _payload(self, metrics: dict[str, float], with_state: bool) -> dict[str, object]:
        payload: dict[str, object] = {
            "model": checkpoint.state_of(self.ema.model),
            "config": self.config.model_dump(),
            "names": self.names,
            "task": self.task,
            "epoch": self.epoch,
            "metrics": metrics,
            "dataset_fingerprint": fingerprint(self.train_ds, self.val_ds),
            "parent": self.parent,
        }
        if with_state:
            payload |= {
                "raw": checkpoint.state_of(self.model),
                "optimizer": self.optimizer.state_dict(),
                "ema_updates": self.ema.updates,
                "elapsed_s": self.elapsed_s,
                "best": self.best,
            }
        return payload

    def _resume(self) -> None:
        payload = checkpoint.load(self.run / "weights" / checkpoint.LAST)
        if payload.get("names") != self.names or payload.get("task") != self.task:
            raise TrainError(f"{self.run}: its checkpoint was trained on other classes; use a new --out")
        self.model.load_state_dict(payload["raw"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.ema = EMA(self.model, self.config.ema, int(payload["ema_updates"]))
        self.ema.model.load_state_dict(payload["model"])
        self.epoch = int(payload["epoch"])
        self.elapsed_s = float(payload["elapsed_s"])
        self.best = dict(payload["best"])
        runs.check_budget_left(self.run, self.epoch, self.elapsed_s, self.config.epochs, self.config.time_s)
        self.progress.on_message(f"resumed {self.run} after epoch {self.epoch}")

    def fit(self) -> Result:
        """Train until the epochs or the time budget run out, patience ends it, or Ctrl-C.

        Under torchrun, every process runs this together (see ``distributed``).
        """
        with distributed.session(self.world, self.device):
            self.net = distributed.wrap(self.model, self.world, self.device)
            try:
                return self._fit()
            finally:
                self.net = distributed.unwrap(self.net)  # DDP freed while its process group lives

    def _fit(self) -> Result:
        cfg = self.config
        if self.world.is_main:
            self.run.mkdir(parents=True, exist_ok=True)
            (self.run / "args.json").write_text(json.dumps(cfg.model_dump(), indent=2) + "\n")
        train = load_samples(self.train_ds, cfg.imgsz)
        replay = (
            load_samples(finetune.remap(finetune.replay_dataset(cfg, self.task), self.names), cfg.imgsz)
            if cfg.replay
            else []
        )
        val = ValSet.build(self.val_ds, cfg.imgsz) if self.world.is_main else None
        images = len(train) + finetune.replay_count(len(train), len(replay), cfg.replay_share)
        if cfg.replay:
            self.progress.on_message(
                f"replay: {images - len(train)} of {len(replay)} images of {cfg.replay} per epoch"
            )
        steps = images // cfg.batch
        if steps == 0:
            raise TrainError(f"{images} training images is fewer than --batch {cfg.batch}; lower --batch")
        rng = np.random.default_rng(cfg.seed + self.epoch)
        augment = AugmentConfig(mosaic=cfg.mosaic)
        points, strides = anchor_points((cfg.imgsz, cfg.imgsz), self.device)
        result = Result(self.run, self.epoch, self.best)
        stale = 0
        metrics: dict[str, float] = {}
        started = time.perf_counter() - self.elapsed_s
        self.progress.on_start(cfg.epochs, steps)
        try:
            while self.epoch < cfg.epochs:
                done = self._progress(0, steps, started)
                if done >= 1:
                    # last.pt must say the budget is spent, so --resume refuses rather than train a step
                    self.elapsed_s = time.perf_counter() - started
                    self._save(checkpoint.LAST, metrics, True)
                    result.stopped = "time"
                    break
                mosaic = done < 1 - cfg.close_mosaic
                sums, done_steps = torch.zeros(3), 0
                epoch = finetune.mix(train, replay, cfg.replay_share, rng)  # the same on every process
                shard = (self.world.rank, self.world.size)
                batches = epoch_batches(epoch, cfg.batch, cfg.imgsz, augment, rng, mosaic, self.task, shard)
                if self._spare_core():
                    batches = prefetch(batches)
                for step, batch in enumerate(batches):
                    progress = self._progress(step, steps, started)  # agreed by every process
                    lr = learning_rate(cfg, progress)
                    self._freeze(progress < cfg.freeze)
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                    parts = self._step(batch, points, strides)
                    sums += parts
                    done_steps += 1
                    self.progress.on_step(step + 1, float(parts.sum()), lr)
                    if self._time_up(started):
                        break
                self.epoch += 1
                self.elapsed_s = time.perf_counter() - started
                metrics = self._validate(val)
                row = self._log(
                    distributed.mean(sums, self.world) / max(done_steps, 1), lr, metrics, len(epoch)
                )
                self.progress.on_epoch(row)
                if metrics[self.metric] > self.best.get(self.metric, -1.0):
                    self.best = {**metrics, "epoch": float(self.epoch)}
                    self._save(checkpoint.BEST, metrics, False)
                    stale = 0
                else:
                    stale += 1
                self._save(checkpoint.LAST, metrics, True)
                if stale >= cfg.patience:
                    result.stopped = "early-stop"
                    break
        except KeyboardInterrupt:
            self.elapsed_s = time.perf_counter() - started
            self._save(checkpoint.LAST, {}, True)
            result.stopped = "interrupted"
        result.epochs, result.best, result.seconds = self.epoch, self.best, self.elapsed_s
        return result

    def _freeze(self, frozen: bool) -> None:
        """Freeze or release the backbone when that changes (``--freeze``, fine-tuning)."""
        if frozen != self.frozen:
            finetune.set_frozen(self.model, frozen)
            if self.net is not self.model:  # DDP fixes the weights it averages when built: build anew
                self.net = distributed.wrap(distributed.unwrap(self.net), self.world, self.device)
            self.frozen = frozen
            self.progress.on_message("backbone frozen" if frozen else "backbone released")

    def _spare_core(self) -> bool:
        """Whether augmenting on a background thread is free.

        When torch's threads already use every core, a third busy thread keeps
        descheduling one of them and every step waits for it: measured on two
        cores, steps ran 1.4x slower with the prefetch thread than without.
        """
        threads = torch.get_num_threads() * self.world.local_size  # every process on this machine
        return self.device.type != "cpu" or (os.cpu_count() or 1) > threads

    def _save(self, name: str, metrics: dict[str, float], with_state: bool) -> None:
        """Rank 0 writes checkpoints (of the plain module: they load as single-process ones)."""
        if self.world.is_main:
            checkpoint.save(self.run / "weights" / name, self._payload(metrics, with_state))

    def _validate(self, val: ValSet | None) -> dict[str, float]:
        """Rank 0 validates; the others wait for its numbers, so all take the same decisions."""
        metrics = validate(self.ema_model, val, self.device) if val is not None else {}
        return distributed.share_json(metrics, self.world)

    def _time_up(self, started: float) -> bool:
        """Whether the time budget is spent; under torchrun, where all agree on it and on Ctrl-C."""
        spent = bool(self.config.time_s) and time.perf_counter() - started > (self.config.time_s or 0)
        spent, signalled = distributed.agree(spent, self.world)
        if signalled:
            raise KeyboardInterrupt  # on every process at the same step; rank 0 saves last.pt
        return spent

    def _progress(self, step: int, steps: int, started: float) -> float:
        cfg = self.config
        by_steps = (self.epoch * steps + step) / (cfg.epochs * steps)
        by_time = (time.perf_counter() - started) / cfg.time_s if cfg.time_s else 0.0
        if cfg.time_s:  # the schedule follows the slowest clock, so every process uses the same lr
            by_time = distributed.agree_max(by_time, self.world)
        return max(by_steps, by_time)

    def _step(self, batch: Batch, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
        images = batch.images.to(self.device, non_blocking=True)
        if isinstance(self.model, Detector):
            assert batch.targets is not None
            targets = type(batch.targets)(*(t.to(self.device) for t in vars(batch.targets).values()))
            box_logits, cls_logits = self.net(images)
            divisor = distributed.loss_divisor(self.world)
            loss, parts = detection_loss(
                box_logits, cls_logits, points, strides, targets, self.model.reg_max, divisor=divisor
            )
        else:
            assert isinstance(self.model, Classifier) and batch.labels is not None
            loss = nn.functional.cross_entropy(
                self.net(images), batch.labels.to(self.device), label_smoothing=0.1
            )
            parts = torch.stack((loss.detach() * 0, loss.detach(), loss.detach() * 0))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()
        self.ema.update(self.model)
        return parts.cpu()

    def _log(
        self, parts: torch.Tensor, lr: float, metrics: dict[str, float], images: int
    ) -> dict[str, float]:
        row = {
            "epoch": float(self.epoch),
            "seconds": round(self.elapsed_s, 1),
            "images": float(images * self.epoch),
            "lr": lr,
            "loss_box": float(parts[0]),
            "loss_cls": float(parts[1]),
            "loss_dfl": float(parts[2]),
            "loss": float(parts.sum()),
            **metrics,
        }
        if not self.world.is_main:
            return row
        path = self.run / "results.csv"
        new = not path.exists() or self.epoch == 1
        with path.open("w" if new else "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS + list(metrics))
            if new:
                writer.writeheader()
            writer.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        return row


def fingerprint(*datasets: Dataset) -> str:
    """A short hash of image names, sizes and labels: the same data gives the same fingerprint."""
    import hashlib

    h = hashlib.sha256()
    for ds in datasets:
        h.update("|".join(ds.names).encode())
        for item in ds.items:
            h.update(f"{item.name}:{item.size_wh}:{item.label}".encode())
            if item.detections is not None:
                h.update(item.detections.xyxy.round(2).tobytes() + item.detections.class_id.tobytes())
    return h.hexdigest()[:16]
