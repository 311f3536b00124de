"""The end-to-end demo behind ``make demo``: the whole loop on data it makes itself.

synth -> train -> export -> eval -> predict on held-out images, printing mAP and
FPS at the end and leaving annotated images to open. Nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeloop.imaging import draw_detections
from edgeloop.optional import require_opencv

cv2 = require_opencv("the demo", "train")

console = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults fit in about five minutes on two CPU cores."""

    train_images: int = 800
    val_images: int = 200
    holdout_images: int = 8
    image_size: int = 320
    imgsz: int = 224
    time_s: float = 280.0
    seed: int = 0


def _step(number: int, text: str) -> float:
    console.print(f"[bold]{number}.[/] {text}")
    return time.perf_counter()


def run_demo(out: Path, cfg: DemoConfig = DemoConfig()) -> None:
    """Run the demo into ``out`` (replaced if it exists)."""
    from edgeloop.cli.train_progress import TrainDisplay
    from edgeloop.data.formats import load_dataset
    from edgeloop.data.synth import synth_detection
    from edgeloop.evaluate import evaluate
    from edgeloop.export.onnx import export_run
    from edgeloop.predictor import Predictor
    from edgeloop.train.config import TrainConfig
    from edgeloop.train.loop import Trainer

    started = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t = _step(1, f"making synthetic shapes: {cfg.train_images} train, {cfg.val_images} val, held-out images")
    synth_detection(out / "data" / "train", cfg.train_images, cfg.image_size, cfg.seed)
    synth_detection(out / "data" / "val", cfg.val_images, cfg.image_size, cfg.seed + 1)
    synth_detection(out / "holdout", cfg.holdout_images, cfg.image_size, cfg.seed + 2)
    console.print(f"   {out / 'data'} ({time.perf_counter() - t:.0f} s)")

    t = _step(2, f"training the nano detector for {cfg.time_s:.0f} s (Ctrl-C stops early and keeps the best)")
    config = TrainConfig(
        data=str(out / "data"), out=str(out / "run"), time_s=cfg.time_s, epochs=100, imgsz=cfg.imgsz
    )
    with TrainDisplay(console) as display:
        trainer = Trainer(config, display.hooks())
        display.describe(trainer)
        result = trainer.fit()
    train_map = result.best.get("map50_95", 0.0)
    console.print(f"   {result.epochs} epochs in {result.seconds:.0f} s; best val mAP50-95 {train_map:.4f}")

    t = _step(3, "exporting the best checkpoint to a bundle (ONNX, checked against torch)")
    report = export_run(out / "run", out / "bundle")
    console.print(f"   {out / 'bundle'}: max abs diff vs torch {report.max_abs_diff:.1e}")

    t = _step(4, "evaluating the bundle on the validation set through the device's Predictor")
    with Predictor(report.bundle) as predictor:
        metrics = evaluate(predictor, load_dataset(out / "data" / "val"), progress=False)
        console.print(
            f"   mAP50 {metrics.map50:.4f}  mAP50-95 {metrics.map50_95:.4f} "  # type: ignore[union-attr]
            f"(training's val: {train_map:.4f}) ({time.perf_counter() - t:.0f} s)"
        )
        t = _step(5, "predicting on held-out images")
        fps = _predict_holdout(predictor, out)
    console.print(
        f"[bold green]done in {time.perf_counter() - started:.0f} s:[/] "
        f"mAP50 {metrics.map50:.3f}, mAP50-95 {metrics.map50_95:.3f}, "  # type: ignore[union-attr]
        f"{fps:.0f} FPS end to end on this CPU"
    )
    console.print(f"   annotated images: {out / 'annotated'}; predictions: {out / 'predictions.jsonl'}")
    console.print(f"   try: edgeloop predict {out / 'bundle'} {out / 'holdout' / 'images'} --json")


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
