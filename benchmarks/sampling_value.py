"""Sampling pays? Labelling the frames edgeloop's samplers pick vs labelling random frames.

1. Synthetic data (cached in ``--cache``): domain A (the base model's train/val),
   held-out test sets of A and of the shifted domain B, and a fixed validation
   set (half A, half B) that every fine-tune validates on.
2. A base model trained on A for ``--base-epochs`` (and, for ``disagreement``, a
   second one: another seed, half the epochs), exported to bundles (cached).
3. Per seed: a stream of ``--frames`` frames, ``--shifted-share`` of them from B,
   run through the exported base bundle with ``Predictor`` at the bundle's own
   thresholds, as a device capturing with ``edgeloop run --capture`` would.
4. For each label budget and each value-scoring sampler of the registry (and
   ``random``): the budget's highest-scoring frames (what the spool keeps with
   ``budget.max_count``), labelled (synthetic: labels are known), fine-tune the
   base model on them (``TrainConfig(init=BASE, replay=A)``, a fixed number of
   epochs, no time budget), export, and evaluate the bundle on held-out A and B.
5. A table of medians over seeds, every run in ``--out`` (JSON), and the issue's
   verdict: the best sampler reaches random's B mAP50-95 with <= 60 % of random's
   budget, or beats random by >= 3 points at equal budget.

Not compared (not per-frame value scores): ``interval`` (time), ``flagged`` (a
client's mark), ``selected_classes`` (a user's class filter), ``scene_change``
(change since the last kept frame). ``random`` is the baseline.

    python benchmarks/sampling_value.py --cache .cache/sampling --out sampling.json
    python benchmarks/sampling_value.py --seeds 1 --budgets 50,200 --epochs 2 --samplers close_to_threshold
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeloop.data.dataset import Dataset
from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import DOMAIN_A, DOMAIN_B
from edgeloop.evaluate import evaluate
from edgeloop.evaluate.metrics import DetectionReport
from edgeloop.export.onnx import export_run
from edgeloop.improve.samplers import SAMPLERS, SamplerParams
from edgeloop.predictor import Predictor
from edgeloop.testing.domain_stream import (
    make_stream,
    observe,
    pick,
    sampler_scores,
    synth_cached,
    write_labelled,
)
from edgeloop.train.config import TrainConfig
from edgeloop.train.loop import Trainer

# Samplers that score a frame's value, with the settings compared (their defaults unless stated).
VALUE_SAMPLERS: dict[str, dict[str, Any]] = {
    "close_to_threshold": {},  # a detection in the uncertain confidence band 0.3-0.6
    "rare_classes": {},  # inverse frequency of the frame's rarest class among kept frames
    "detection_count": {"fewer_than": 1},  # the model finds nothing (every synthetic frame has objects)
    "novelty": {},  # brightness / contrast / count / confidence far from the rolling baseline
    "disagreement": {},  # boxes the second model does not confirm
}
SEED_OFFSET = 100  # stream seeds, away from the seeds of the fixed sets


def log(text: str) -> None:
    print(text, flush=True)


def fixed_sets(cache: Path, size: int, base_images: int, test_images: int) -> dict[str, Path]:
    """Base A train/val, held-out A and B tests, the fine-tunes' A+B validation set (written once)."""
    plan = [
        ("a/train", base_images, 1, DOMAIN_A),
        ("a/val", max(40, base_images // 5), 2, DOMAIN_A),
        ("test_a", test_images, 4, DOMAIN_A),
        ("test_b", test_images, 5, DOMAIN_B),
        ("ft_val_a", 30, 6, DOMAIN_A),
        ("ft_val_b", 30, 7, DOMAIN_B),
    ]
    for name, images, seed, domain in plan:
        synth_cached(cache / name, images, size, seed, domain)
    val = cache / "ft_val"
    if not val.is_dir():
        a, b = load_dataset(cache / "ft_val_a"), load_dataset(cache / "ft_val_b")
        items = [replace(i, name=f"A_{i.name}") for i in a.items] + [
            replace(i, name=f"B_{i.name}") for i in b.items
        ]
        write_labelled(Dataset(a.names, tuple(items), "detect"), val)
    return {"a": cache / "a", "test_a": cache / "test_a", "test_b": cache / "test_b", "val": val}


def base_model(cache: Path, name: str, data: Path, args: argparse.Namespace, seed: int, epochs: int) -> Path:
    """Train (once) and export a model on domain A; returns the run folder (the bundle is run/bundle)."""
    run = cache / name
    if (run / "bundle" / "bundle.json").is_file():
        return run
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    config = TrainConfig(
        data=str(data), out=str(run), imgsz=args.imgsz, epochs=epochs, seed=seed,
        threads=args.threads, patience=epochs,
    )  # fmt: skip
    result = Trainer(config).fit()
    export_run(run, run / "bundle", name=name, samples=0)
    log(f"{name}: {epochs} epochs on A in {time.perf_counter() - started:.0f} s, val {result.best}")
    return run


def test_maps(bundle: Path, sets: dict[str, Path]) -> dict[str, float]:
    """mAP50-95 (points) of a bundle on the held-out A and B sets, through Predictor."""
    out = {}
    with Predictor(bundle) as predictor:
        for key in ("test_a", "test_b"):
            report = evaluate(predictor, load_dataset(sets[key]), progress=False)
            assert isinstance(report, DetectionReport)
            out[key.replace("test_", "map_")] = round(100 * report.map50_95, 2)
    return out


def finetune(
    picked: Dataset, base: Path, sets: dict[str, Path], args: argparse.Namespace, seed: int, work: Path
) -> dict[str, float]:
    """Fine-tune ``base`` on the picked frames for a fixed number of epochs; test the exported bundle."""
    data = work / "data"
    write_labelled(picked, data / "train")
    (data / "val").symlink_to(sets["val"].resolve(), target_is_directory=True)
    images = len(picked)
    per_epoch = max(1, round(images / (1 - args.replay_share)) // args.batch)
    epochs = max(args.epochs, -(-args.min_steps // per_epoch))
    config = TrainConfig(
        data=str(data), out=str(work / "run"), init=str(base), imgsz=args.imgsz, epochs=epochs, seed=seed,
        batch=args.batch, threads=args.threads, patience=epochs,
        replay=str(sets["a"]) if args.replay_share > 0 else None, replay_share=args.replay_share,
    )  # fmt: skip
    Trainer(config).fit()
    export_run(work / "run", work / "bundle", name="candidate", samples=0)
    return {**test_maps(work / "bundle", sets), "epochs": epochs}


def params_of(name: str) -> SamplerParams:
    params: SamplerParams = SAMPLERS.get(name).params.model_validate(VALUE_SAMPLERS.get(name, {}))
    return params


def run_key(sampler: str, budget: int, seed: int) -> str:
    return f"{sampler}/{budget}/{seed}"


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sets = fixed_sets(cache, args.imgsz, args.base_images, args.test_images)
    base = base_model(cache, "base", sets["a"], args, 0, args.base_epochs)
    second = None
    if "disagreement" in args.samplers:
        second = base_model(cache, "second", sets["a"], args, 1, max(1, args.base_epochs // 2))
    out = Path(args.out)
    done: dict[str, Any] = json.loads(out.read_text()) if out.is_file() and args.resume else {}
    if done.get("settings", {}).get("key") != settings_key(args):
        done = {}
    results: dict[str, Any] = {
        "settings": {**vars(args), "key": settings_key(args)},
        "base": done.get("base") or test_maps(base / "bundle", sets),
        "runs": done.get("runs", {}),
    }
    log(f"base model: A {results['base']['map_a']:.1f}, B {results['base']['map_b']:.1f} mAP50-95")
    names = ["random", *args.samplers]
    total, index = len(args.seeds) * len(args.budgets) * len(names), 0
    for seed in args.seeds:
        stream = make_stream(
            cache / f"stream{seed}", args.frames, args.shifted_share, args.imgsz, SEED_OFFSET + seed
        )
        with Predictor(base / "bundle") as p1:
            if second is not None:
                with Predictor(second / "bundle") as p2:
                    seen = observe(stream, p1, p2)
            else:
                seen = observe(stream, p1)
        shifted = stream.shifted()
        scored = {name: sampler_scores(name, params_of(name), seen, seed) for name in names}
        if args.picks_only:
            log_picks(scored, shifted, args.budgets, seed)
            continue
        for budget in args.budgets:  # budget by budget: a stopped run still compares every sampler
            for name, scores in scored.items():
                index += 1
                key = run_key(name, budget, seed)
                chosen = pick(scores, budget, seed)
                if key in results["runs"]:
                    continue
                started = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="sampling-") as tmp:
                    row = finetune(stream.dataset(chosen), base, sets, args, seed, Path(tmp))
                row |= {
                    "sampler": name, "budget": budget, "seed": seed, "picked_b": int(shifted[chosen].sum()),
                    "seconds": round(time.perf_counter() - started, 1),
                }  # fmt: skip
                results["runs"][key] = row
                out.write_text(json.dumps(results, indent=1) + "\n")
                log(
                    f"[{index}/{total}] {name:<18} budget {budget:>3} seed {seed}: "
                    f"{row['picked_b']:>3} B frames picked, B {row['map_b']:5.1f}  A {row['map_a']:5.1f}  "
                    f"({row['seconds']:.0f} s)"
                )
    results["summary"] = summarise(results, names, args.budgets)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def log_picks(scored: dict[str, Any], shifted: Any, budgets: list[int], seed: int) -> None:
    """How many shifted (B) frames each sampler's pick holds, per budget (no training)."""
    log(f"seed {seed}: {int(shifted.sum())} of {len(shifted)} stream frames are B")
    for name, scores in scored.items():
        counts = [int(shifted[pick(scores, b, seed)].sum()) for b in budgets]
        log(f"  {name:<20}" + "".join(f"{b:>5}: {c:>3} B" for b, c in zip(budgets, counts, strict=True)))


def settings_key(args: argparse.Namespace) -> str:
    keep = ("imgsz", "frames", "shifted_share", "base_images", "base_epochs", "test_images", "epochs",
            "min_steps", "batch", "replay_share")  # fmt: skip
    return json.dumps({k: getattr(args, k) for k in keep}, sort_keys=True)


def summarise(results: dict[str, Any], names: list[str], budgets: list[int]) -> dict[str, Any]:
    """Medians per (sampler, budget) and the acceptance verdict."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        for budget in budgets:
            rows = [r for r in results["runs"].values() if r["sampler"] == name and r["budget"] == budget]
            if rows:
                table.setdefault(name, {})[str(budget)] = {
                    k: statistics.median(r[k] for r in rows) for k in ("map_b", "map_a", "picked_b")
                } | {"seeds": len(rows)}
    # Random's B mAP at a budget is taken as the best it reached with that many frames or fewer:
    # more random labels do not hurt in expectation, so a dip at a larger budget is noise to not
    # count in the samplers' favour.
    random = {int(b): row["map_b"] for b, row in table.get("random", {}).items()}
    envelope = {b: max(v for rb, v in random.items() if rb <= b) for b in random}
    passes = []
    for name in names[1:]:
        for b, row in table.get(name, {}).items():
            mine, budget = row["map_b"], int(b)
            if budget in envelope and mine - envelope[budget] >= 3.0:
                passes.append(f"{name} at {b}: B {mine:.1f} vs random {envelope[budget]:.1f} (>= +3 points)")
            for rb, ref in envelope.items():
                if budget <= 0.6 * rb and mine >= ref:
                    passes.append(f"{name} with {b} frames: B {mine:.1f} >= random's {ref:.1f} with {rb}")
    return {"table": table, "passes": passes, "verdict": "PASS" if passes else "FAIL"}


def print_table(results: dict[str, Any]) -> None:
    base, summary = results["base"], results["summary"]
    log(f"\nbase model (trained on A): A {base['map_a']:.1f}  B {base['map_b']:.1f}  (mAP50-95, points)")
    log(f"{'sampler':<20}{'budget':>7}{'B frames':>10}{'B mAP':>8}{'A mAP':>8}{'seeds':>7}")
    for name, rows in summary["table"].items():
        for budget, row in rows.items():
            log(f"{name:<20}{budget:>7}{row['picked_b']:>10.0f}{row['map_b']:>8.1f}{row['map_a']:>8.1f}"
                f"{row['seeds']:>7}")  # fmt: skip
    log(f"\nverdict: {summary['verdict']}")
    for line in summary["passes"]:
        log(f"  {line}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=".cache/sampling_value", help="data and base models, reused")
    p.add_argument("--out", default="sampling_value.json", help="every run, the table and the verdict")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    p.add_argument("--budgets", type=lambda s: [int(x) for x in s.split(",")], default=[50, 100, 200])
    p.add_argument("--samplers", type=lambda s: s.split(","), default=list(VALUE_SAMPLERS))
    p.add_argument("--epochs", type=int, default=6, help="fine-tune epochs (fixed; no time budget)")
    p.add_argument("--min-steps", type=int, default=60, help="small picks train at least this many steps")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--replay-share", type=float, default=0.3, help="share of A images in each epoch")
    p.add_argument("--imgsz", type=int, default=128, help="image side and training size")
    p.add_argument("--frames", type=int, default=1200, help="frames in each seed's stream")
    p.add_argument("--shifted-share", type=float, default=0.2, help="share of the stream from domain B")
    p.add_argument("--base-images", type=int, default=600)
    p.add_argument("--base-epochs", type=int, default=15)
    p.add_argument("--test-images", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--picks-only", action="store_true", help="count B frames in each pick; no training")
    p.add_argument("--report", action="store_true", help="print the table and verdict of --out; no runs")
    p.add_argument("--resume", action="store_true", help="skip runs already in --out (same settings)")
    args = p.parse_args(argv)
    unknown = [s for s in args.samplers if s not in VALUE_SAMPLERS]
    if unknown:
        p.error(f"--samplers: {', '.join(unknown)} not compared; choose from {', '.join(VALUE_SAMPLERS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.report:  # the table and verdict of an earlier --out, with the budgets and samplers asked
        results = json.loads(Path(args.out).read_text())
        results["summary"] = summarise(results, ["random", *args.samplers], args.budgets)
        print_table(results)
        return
    results = run_all(args)
    if not args.picks_only:
        print_table(results)


if __name__ == "__main__":
    main()
