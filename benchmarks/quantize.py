#!/usr/bin/env python
"""INT8 and OpenVINO against ONNX Runtime FP32: latency ratios and accuracy, one run, interleaved.

For a yolo11n-sized model (generated here, or ``--bundle`` for your own) at
320 and 640, runs ``edgeloop optimize --int8 [--openvino]`` and prints what it
measured: median inference latency of every variant (ORT FP32, ORT INT8,
OpenVINO FP32, OpenVINO INT8), timed round by round in one process so all see
the same machine load, as ratios against ORT FP32, and mAP50-95 per variant.

Accuracy: with ``--eval DATASET`` on that dataset. Without it, on a
"fidelity" set: held-out synthetic images labelled with the FP32 model's own
detections (conf >= 0.25), so FP32 scores about 100 (not exactly: evaluation
runs at conf 0.001) and each variant's score says how much of FP32's output
it reproduces.

    python benchmarks/quantize.py [--bundle B] [--sizes 320,640] [--rounds 50] [--eval DATASET]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
from pathlib import Path

from edgeloop.bundle import load_bundle
from edgeloop.data.dataset import Dataset, Item
from edgeloop.data.formats import load_dataset, save_dataset
from edgeloop.data.synth import synth_detection
from edgeloop.importer import import_onnx
from edgeloop.optimize import OptimizeOptions, OptimizeReport, optimize
from edgeloop.predictor import Predictor
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.types import Detections


def make_bundle(workdir: Path, imgsz: int) -> Path:
    # class_bias -5: a dozen boxes per image from random weights, so accuracy has something to compare.
    model = random_yolo(workdir / f"yolo11n-sized-{imgsz}.onnx", imgsz=imgsz, class_bias=-5.0)
    import_onnx(model, workdir / f"bundle-{imgsz}")
    return workdir / f"bundle-{imgsz}"


def fidelity_set(bundle: Path, images: Path, out: Path) -> Path:
    """``images``' dataset relabelled with the FP32 model's detections."""
    source = load_dataset(images)
    with Predictor(bundle, precision="fp32") as predictor:
        items = []
        for item in source.items:
            found = predictor.predict(item.image)
            assert isinstance(found, Detections)
            labels = Detections(found.xyxy, found.confidence * 0 + 1, found.class_id, predictor.names)
            items.append(Item(item.image, item.name, item.size_wh, labels))
    save_dataset(Dataset(predictor.names, tuple(items)), out, "yolo")
    return out


def run(bundle: Path, calib: Path, eval_set: Path, rounds: int, openvino: bool) -> OptimizeReport:
    out = Path(tempfile.mkdtemp(prefix="edgeloop-quant-bench-")) / "out"
    options = OptimizeOptions(
        int8=True, openvino=openvino, calib=calib, eval=eval_set, latency_runs=rounds, progress=False
    )
    return optimize(bundle, out, options)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, help="your bundle (default: generated yolo11n-sized models)")
    parser.add_argument("--sizes", default="320,640", help="input sizes of the generated models")
    parser.add_argument("--calib", type=Path, help="calibration dataset (default: 100 synthetic images)")
    parser.add_argument("--eval", type=Path, help="held-out dataset (default: the FP32 fidelity set)")
    parser.add_argument("--rounds", type=int, default=50, help="interleaved latency rounds")
    parser.add_argument("--no-openvino", action="store_true", help="skip the OpenVINO variants")
    args = parser.parse_args()
    openvino = not args.no_openvino and importlib.util.find_spec("openvino") is not None
    work = Path(tempfile.mkdtemp(prefix="edgeloop-quant-bench-"))
    print(
        f"load average before: {os.getloadavg()[0]:.2f} (2 vCPU machines: > 0.5 means someone else is busy)"
    )
    if args.bundle:
        targets = [(load_bundle(args.bundle).manifest.input.size_hw[0], args.bundle)]
    else:
        targets = [(size, make_bundle(work, size)) for size in (int(s) for s in args.sizes.split(","))]
    rows = []
    for size, bundle in targets:
        calib = args.calib
        if calib is None:
            calib = work / f"calib-{size}"
            synth_detection(calib, 100, size, seed=1)
        eval_set = args.eval
        if eval_set is None:
            synth_detection(work / f"held-out-{size}", 50, size, seed=2)
            eval_set = fidelity_set(bundle, work / f"held-out-{size}", work / f"fidelity-{size}")
        report = run(bundle, calib, eval_set, args.rounds, openvino)
        rows += [(size, v) for v in report.variants]
        for warning in report.warnings:
            print(f"  warning: {warning}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    what = "mAP50-95 on --eval" if args.eval else "fidelity mAP50-95 (FP32 ~ 100 by construction)"
    print(f"\n| input | variant | backend | median ms | vs ORT FP32 | {what} |")
    print("|---|---|---|---|---|---|")
    for size, v in rows:
        m = v.metrics
        print(
            f"| {size} | {v.file} ({v.precision}) | {v.backend} | {m['latency_ms']:.1f} | "
            f"**{m['speedup_vs_fp32']:.2f}x** | {m.get('map50_95', float('nan')) * 100:.1f} |"
        )


if __name__ == "__main__":
    main()
