"""Training speed of the nano preset: images/s at 320, and time to reach mAP50 0.9.

Part 1 times training steps (augmentation, forward, loss, backward, AdamW, EMA)
at imgsz 320 and 256, interleaved in rounds, and prints the median images/s of
each and their ratio. Part 2 trains on a fresh synthetic set with the demo's
settings and reports when validation mAP50 first reached 0.9 (validation time
included, as a user waits for it too).

    python benchmarks/train_speed.py [--time 300] [--threads N] [--skip-run]

Nothing else should run on the machine meanwhile: timings are wall clock.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import synth_detection
from edgeloop.train.augment import AugmentConfig
from edgeloop.train.config import TrainConfig
from edgeloop.train.data import epoch_batches, load_samples
from edgeloop.train.loop import EMA, Progress, Trainer, _optimizer
from edgeloop.train.loss import detection_loss
from edgeloop.train.model import Detector, anchor_points


def step_rate(data: Path, imgsz: int, steps: int, batch: int = 8) -> float:
    """Images per second over ``steps`` training steps (after 3 warm-up steps)."""
    samples = load_samples(load_dataset(data), imgsz)
    config = TrainConfig(data=str(data), out="unused", imgsz=imgsz, batch=batch)
    torch.manual_seed(0)
    model = Detector(3, "nano")
    optimizer = _optimizer(model, config)
    ema = EMA(model, config.ema)
    points, strides = anchor_points((imgsz, imgsz))
    rng = np.random.default_rng(0)
    batches = epoch_batches(samples * 4, batch, imgsz, AugmentConfig(), rng, True)
    started = 0.0
    for index, b in enumerate(batches):
        if index == 3:
            started = time.perf_counter()
        if index == 3 + steps:
            break
        assert b.targets is not None
        box, cls = model(b.images)
        loss, _ = detection_loss(box, cls, points, strides, b.targets, model.reg_max)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update(model)
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=float, default=280.0, help="training budget of part 2, seconds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-run", action="store_true", help="only part 1")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synth_detection(root / "data" / "train", 800, 320, seed=0)
        synth_detection(root / "data" / "val", 200, 320, seed=1)
        rates: dict[int, list[float]] = {320: [], 256: []}
        for _ in range(args.rounds):
            for imgsz in rates:
                rates[imgsz].append(step_rate(root / "data" / "train", imgsz, args.steps))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 8, nano preset")
        for imgsz, values in rates.items():
            print(
                f"  train step at {imgsz}: {statistics.median(values):.1f} images/s (rounds: "
                + ", ".join(f"{v:.1f}" for v in values)
                + ")"
            )
        ratio = statistics.median(rates[256]) / statistics.median(rates[320])
        print(f"  256 vs 320: {ratio:.2f}x images/s")
        if args.skip_run:
            return
        config = TrainConfig(
            data=str(root / "data"), out=str(root / "run"), time_s=args.time, epochs=100, imgsz=224
        )
        result = Trainer(
            config,
            Progress(
                on_epoch=lambda row: print(
                    f"  epoch {row['epoch']:.0f}: {row['seconds']:.0f} s, mAP50 {row['map50']:.4f}, "
                    f"mAP50-95 {row['map50_95']:.4f}",
                    flush=True,
                )
            ),
        ).fit()
        with (root / "run" / "results.csv").open() as f:
            rows = list(csv.DictReader(f))
        reached = next((float(r["seconds"]) for r in rows if float(r["map50"]) >= 0.9), None)
        seen = float(rows[-1]["images"]) / float(rows[-1]["seconds"])
        print(
            f"training at 224 (the demo settings) with a {args.time:.0f} s budget: {result.epochs} epochs, "
            f"{seen:.1f} images/s including validation"
        )
        print(
            f"  best mAP50 {result.best.get('map50', 0):.4f}, mAP50-95 {result.best.get('map50_95', 0):.4f}"
        )
        print(f"  time to mAP50 >= 0.9: {reached:.0f} s" if reached else "  mAP50 0.9 not reached")


if __name__ == "__main__":
    main()
