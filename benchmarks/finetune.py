"""Fine-tuning pays: a domain-A model fine-tuned on 200 labelled domain-B frames within 3 minutes.

1. Synthetic data (``edgeloop.data.synth``): domain A train/val (the base model's data), 200
   labelled frames of domain B (the fine-tune's only new data; it splits off its own validation
   images), and held-out test sets of A and B that neither run sees.
2. A base model trained on A for ``--base-time`` seconds (kept in ``--cache`` and reused).
3. ``Trainer(TrainConfig(data=B200, init=BASE, replay=A, time_s=...))``: the fine-tune, timed
   from construction (data loading included) to its end.
4. mAP50-95 on the held-out A and B sets before and after, through the same validation as
   training (the number the exported bundle gets), and PASS/FAIL against the issue's bar:
   B rises by >= 10 points, A drops by <= 2 points, within the wall budget.

    python benchmarks/finetune.py --cache .cache/finetune [--budget 180] [--threads 2]
    python benchmarks/finetune.py --cache DIR --threads 1 --epochs 15 --base-epochs 10   # busy machine

By default the fine-tune gets ``--budget`` seconds of wall clock (the schedule fits it). On a
machine other jobs share, wall clock measures the neighbours: ``--epochs`` fixes the work instead,
and the process's CPU seconds are reported beside the wall clock. With ``--threads 1`` those CPU
seconds bound the wall clock on two idle cores from above (one core's work, plus the batch thread).
On a busy machine use ``--threads 1`` for the base model too: two torch threads spin-wait for each
other whenever one is descheduled (at load 11 on 2 cores one epoch took 425 s instead of ~19 s).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import DOMAIN_A, DOMAIN_B, Domain, synth_detection
from edgeloop.train import checkpoint
from edgeloop.train.config import TrainConfig
from edgeloop.train.finetune import remap
from edgeloop.train.loop import Progress, Trainer
from edgeloop.train.model import Detector
from edgeloop.train.validate import ValSet, validate

SIZE = 320  # source image side, as the demo's
B_FRAMES = 200  # the label budget
MIN_B_GAIN = 10.0  # points of mAP50-95
MAX_A_DROP = 2.0


@dataclass(frozen=True)
class Sets:
    a: Path  # train/ and val/: the base model's data, and the fine-tune's replay
    b: Path  # 200 labelled B frames
    a_test: Path
    b_test: Path


def make_data(root: Path, test_images: int) -> Sets:
    """The synthetic sets, written once into ``root`` (seeds fixed, so a cache is always the same data)."""
    plan: list[tuple[Path, int, int, Domain]] = [
        (root / "a" / "train", 800, 1, DOMAIN_A),
        (root / "a" / "val", 200, 2, DOMAIN_A),
        (root / "b", B_FRAMES, 3, DOMAIN_B),
        (root / "a_test", test_images, 4, DOMAIN_A),
        (root / "b_test", test_images, 5, DOMAIN_B),
    ]
    for path, images, seed, domain in plan:
        if not (path / "images").is_dir():
            synth_detection(path, images, SIZE, seed=seed, domain=domain)
    return Sets(root / "a", root / "b", root / "a_test", root / "b_test")


def log(text: str) -> None:
    print(text, flush=True)


def quiet_progress() -> Progress:
    return Progress(
        on_epoch=lambda row: log(
            f"   epoch {row['epoch']:.0f}  {row['seconds']:.0f} s  loss {row['loss']:.3f}  "
            f"val mAP50-95 {row['map50_95']:.4f}"
        ),
        on_message=lambda text: log(f"   {text}"),
    )


def base_model(
    sets: Sets, cache: Path, imgsz: int, base_time: float, epochs: int | None, threads: int
) -> Path:
    """The domain-A run folder, trained now unless the cache holds one made with the same settings."""
    run = cache / (f"base-{imgsz}-{epochs}ep" if epochs else f"base-{imgsz}-{base_time:.0f}s")
    if (run / "weights" / checkpoint.BEST).is_file():
        log(f"base model: reusing {run}")
        return run
    how = f"{epochs} epochs" if epochs else f"{base_time:.0f} s"
    log(f"base model: training on domain A for {how} at imgsz {imgsz}")
    config = TrainConfig(
        data=str(sets.a),
        out=str(run),
        time_s=None if epochs else base_time,
        epochs=epochs or 200,
        imgsz=imgsz,
        threads=threads,
        patience=50,
    )
    Trainer(config, quiet_progress()).fit()
    return run


def score(weights: Path, test: Path, imgsz: int) -> float:
    """mAP50-95 in points of a checkpoint on a held-out set."""
    payload = checkpoint.load(weights)
    model, _, names, _ = checkpoint.restore(payload)
    assert isinstance(model, Detector)
    ds = remap(load_dataset(test), names)
    return 100 * validate(model, ValSet.build(ds, imgsz), torch.device("cpu"))["map50_95"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="keeps data and the base model between runs")
    parser.add_argument("--budget", type=float, default=180.0, help="wall seconds for the whole fine-tune")
    parser.add_argument("--base-time", type=float, default=420.0, help="seconds to train the base model")
    parser.add_argument(
        "--base-epochs", type=int, default=None, help="train the base model this long instead"
    )
    parser.add_argument("--epochs", type=int, default=None, help="fine-tune this long instead of --budget")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=None, help="peak lr [the --init default]")
    parser.add_argument("--freeze", type=float, default=None, help="[the --init default]")
    parser.add_argument("--replay-share", type=float, default=0.3)
    parser.add_argument("--no-replay", action="store_true")
    parser.add_argument("--test-images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log(f"load: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        sets = make_data(cache / "data", args.test_images)
        base = base_model(sets, cache, args.imgsz, args.base_time, args.base_epochs, args.threads)
        base_weights = checkpoint.best_or_last(base)
        a0, b0 = score(base_weights, sets.a_test, args.imgsz), score(base_weights, sets.b_test, args.imgsz)
        log(f"base model: A {a0:.1f}, B {b0:.1f} (mAP50-95 x100 on {args.test_images} held-out images each)")

        given: dict[str, object] = {}
        if args.lr is not None:
            given["lr"] = args.lr
        if args.freeze is not None:
            given["freeze"] = args.freeze
        if not args.no_replay:
            given |= {"replay": str(sets.a), "replay_share": args.replay_share}
        if args.epochs:
            given["epochs"] = args.epochs
        else:  # the loop's budget excludes loading the data; leave time for that
            given |= {"epochs": 300, "time_s": args.budget - 15}
        run = Path(tmp) / "finetuned"
        started, cpu_started = time.perf_counter(), time.process_time()
        config = TrainConfig.model_validate(
            {
                "data": str(sets.b),
                "out": str(run),
                "init": str(base),
                "patience": 300,
                "threads": args.threads,
                "seed": args.seed,
                **given,
            }
        )
        trainer = Trainer(config, quiet_progress())
        result = trainer.fit()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        tuned = checkpoint.best_or_last(run)
        a1, b1 = score(tuned, sets.a_test, args.imgsz), score(tuned, sets.b_test, args.imgsz)

    cfg = trainer.config
    gain, drop = b1 - b0, a0 - a1
    # Wall clock, or with one torch thread the CPU seconds (an upper bound of the wall clock on 2 idle cores).
    spent = min(wall, cpu) if args.threads == 1 else wall
    ok_b, ok_a, ok_t = gain >= MIN_B_GAIN, drop <= MAX_A_DROP, spent <= args.budget
    log("")
    log(
        f"fine-tune: {B_FRAMES} B frames, lr {cfg.lr:g}, freeze {cfg.freeze:g}, "
        f"replay {'none' if not cfg.replay else cfg.replay_share}, imgsz {cfg.imgsz}, "
        f"{result.epochs} epochs, {wall:.0f} s wall, {cpu:.0f} CPU s ({args.threads} torch threads)"
    )
    log("| mAP50-95 (x100) | base (A-trained) | fine-tuned | change | bar |")
    log("|---|---:|---:|---:|---|")
    verdict = {True: "PASS", False: "FAIL"}
    log(f"| held-out B | {b0:.1f} | {b1:.1f} | {gain:+.1f} | >= +{MIN_B_GAIN:g} {verdict[ok_b]} |")
    log(f"| held-out A | {a0:.1f} | {a1:.1f} | {-drop:+.1f} | >= -{MAX_A_DROP:g} {verdict[ok_a]} |")
    what = "seconds (CPU, 1 thread)" if spent < wall else "seconds (wall)"
    log(f"| {what} | | {spent:.0f} | | <= {args.budget:.0f} {verdict[ok_t]} |")
    load = os.getloadavg()
    log(f"load after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    passed = ok_a and ok_b and ok_t
    log("PASS" if passed else "FAIL")
    if args.json:
        numbers = {
            "a_before": a0,
            "a_after": a1,
            "b_before": b0,
            "b_after": b1,
            "wall_s": wall,
            "cpu_s": cpu,
            "epochs": result.epochs,
            "lr": cfg.lr,
            "freeze": cfg.freeze,
            "replay_share": cfg.replay_share if cfg.replay else 0.0,
            "imgsz": cfg.imgsz,
            "load": list(load),
            "passed": passed,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
