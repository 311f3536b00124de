"""The demo's first round: synth -> train -> export -> eval -> predict on held-out images.

Prints mAP and FPS and leaves annotated images to open. Nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeloop.demo.config import DemoConfig
from edgeloop.demo.steps import Steps, console, torch_threads
from edgeloop.imaging import draw_detections
from edgeloop.optional import require_opencv

cv2 = require_opencv("the demo", "train")


@dataclass(frozen=True)
class FirstRound:
    """What the first round leaves: the run folder, the bundle, its validation scores and speed."""

    run: Path
    bundle: Path
    map50: float
    map50_95: float
    fps: float


def first_round(out: Path, cfg: DemoConfig, steps: Steps) -> FirstRound:
    """Run the first round into ``out`` (replaced if it exists)."""
    from edgeloop.cli.train_progress import TrainDisplay
    from edgeloop.data.formats import load_dataset
    from edgeloop.data.synth import synth_detection
    from edgeloop.evaluate import evaluate
    from edgeloop.export.onnx import export_run
    from edgeloop.predictor import Predictor
    from edgeloop.train.config import TrainConfig
    from edgeloop.train.loop import Trainer

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    title = f"making synthetic shapes: {cfg.train_images} train, {cfg.val_images} val, held-out images"
    with steps.step("synthetic data", title) as step:
        synth_detection(out / "data" / "train", cfg.train_images, cfg.image_size, cfg.seed)
        synth_detection(out / "data" / "val", cfg.val_images, cfg.image_size, cfg.seed + 1)
        synth_detection(out / "holdout", cfg.holdout_images, cfg.image_size, cfg.seed + 2)
        step.result = str(out / "data")

    title = f"training the nano detector for {cfg.time_s:.0f} s (Ctrl-C stops early and keeps the best)"
    with steps.step("first training", title) as step:
        config = TrainConfig(
            data=str(out / "data"),
            out=str(out / "run"),
            time_s=cfg.time_s,
            epochs=100,
            imgsz=cfg.imgsz,
            threads=torch_threads(cfg.threads),
        )
        with TrainDisplay(console) as display:
            trainer = Trainer(config, display.hooks())
            display.describe(trainer)
            result = trainer.fit()
        train_map = result.best.get("map50_95", 0.0)
        step.result = f"{result.epochs} epochs; best val mAP50-95 {train_map:.3f}"
        console.print(f"   {step.result}")

    with steps.step(
        "export", "exporting the best checkpoint to a bundle (ONNX, checked against torch)"
    ) as step:
        report = export_run(out / "run", out / "bundle")
        step.result = f"max abs diff vs torch {report.max_abs_diff:.1e}"
        console.print(f"   {out / 'bundle'}: {step.result}")

    with (
        steps.step(
            "validation mAP", "evaluating the bundle on the validation set through the device's Predictor"
        ) as step,
        Predictor(report.bundle) as predictor,
    ):
        metrics = evaluate(predictor, load_dataset(out / "data" / "val"), progress=False)
        map50, map50_95 = metrics.map50, metrics.map50_95  # type: ignore[union-attr]
        step.result = f"mAP50 {map50:.3f}, mAP50-95 {map50_95:.3f}"
        console.print(f"   {step.result} (training's val: {train_map:.4f})")
    with (
        steps.step("predict", "predicting on held-out images") as step,
        Predictor(report.bundle) as predictor,
    ):
        fps = _predict_holdout(predictor, out)
        step.result = f"{fps:.0f} FPS end to end"
    console.print(
        f"[bold green]first round done in {steps.total_s():.0f} s:[/] "
        f"mAP50 {map50:.3f}, mAP50-95 {map50_95:.3f}, {fps:.0f} FPS end to end on this CPU"
    )
    console.print(f"   annotated images: {out / 'annotated'}; predictions: {out / 'predictions.jsonl'}")
    console.print(f"   try: edgeloop predict {out / 'bundle'} {out / 'holdout' / 'images'} --json")
    return FirstRound(out / "run", out / "bundle", map50, map50_95, fps)


def _predict_holdout(predictor: object, out: Path) -> float:
    from edgeloop.predictor import Predictor
    from edgeloop.types import Detections

    assert isinstance(predictor, Predictor)
    annotated = out / "annotated"
    annotated.mkdir()
    lines, seconds = [], []
    for path in sorted((out / "holdout" / "images").iterdir()):
        result, timing = predictor.predict_timed(path)
        assert isinstance(result, Detections)
        image = predictor.load_image(path)
        cv2.imwrite(str(annotated / path.name), draw_detections(image, result))
        lines.append(json.dumps({"source": str(path), **result.to_json(image.shape[1::-1], timing.total_s)}))
        seconds.append(timing.total_s)
        names = ", ".join(result.names[int(c)] for c in result.class_id)
        console.print(f"   {path.name}: {len(result)} ({names}) in {timing.total_s * 1e3:.1f} ms")
    (out / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    seconds.sort()
    return 1.0 / seconds[len(seconds) // 2]
