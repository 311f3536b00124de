#!/usr/bin/env python
"""End-to-end Predictor time against bare ``session.run``, interleaved, medians.

For a yolo11n-sized model (generated here, or ``--model`` for your own ONNX)
at 320 and 640, each round times, back to back and in alternating order:

  bare:     session.run on a ready input tensor (the same ONNX Runtime session)
  predictor: Predictor.predict on the JPEG bytes: decode + letterbox +
             normalise + infer + decode outputs + NMS + map boxes back

and prints the ratio of medians with the targets (<= 1.15x at 640, <= 1.25x at
320). It also times cold start: ``edgeloop predict BUNDLE IMAGE.jpg`` from
process start to exit, median of several runs.

    python benchmarks/runtime_overhead.py [--model yolo11n.onnx] [--rounds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edgeloop.backends import OnnxRuntimeConfig
from edgeloop.imaging import decode_image
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.predictor import Predictor
from edgeloop.preprocess import preprocess
from edgeloop.testing.onnx_models import random_yolo

TARGETS = {640: 1.15, 320: 1.25}


def scene_jpeg(width: int, height: int) -> bytes:
    """A camera-like JPEG: smooth gradients, shapes and sensor noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.dstack([x / width * 200, y / height * 180, (x + y) / (width + height) * 220])
    for _ in range(12):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(20, 120)
        cv2.circle(image, (int(cx), int(cy)), int(r), rng.integers(0, 255, 3).tolist(), -1)
    image += rng.normal(0, 6, image.shape)
    ok, buf = cv2.imencode(".jpg", np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def make_bundle(workdir: Path, imgsz: int, model: Path | None) -> Path:
    onnx_path = model or random_yolo(workdir / f"yolo11n-sized-{imgsz}.onnx", imgsz=imgsz)
    out = workdir / f"bundle-{imgsz}"
    import_onnx(onnx_path, out, ImportOptions(imgsz_hw=(imgsz, imgsz) if model is None else None))
    return out


def interleaved(predictor: Predictor, jpeg: bytes, rounds: int) -> dict[str, float]:
    session = predictor.backend._session  # type: ignore[attr-defined]
    name = predictor.input_name
    tensor, _ = preprocess(decode_image(jpeg), predictor.input_spec)
    for _ in range(10):  # warm-up
        session.run(None, {name: tensor})
        predictor.predict(jpeg)
    bare, full, detections = [], [], 0
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "infer": [], "postprocess": []}
    for i in range(rounds):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            t0 = time.perf_counter()
            if which == 0:
                session.run(None, {name: tensor})
                bare.append(time.perf_counter() - t0)
            else:
                result, timing = predictor.predict_timed(jpeg)
                full.append(time.perf_counter() - t0)
                detections = len(result)  # type: ignore[arg-type]
                for stage in stages:
                    stages[stage].append(getattr(timing, f"{stage}_s"))
    med = {k: statistics.median(v) * 1e3 for k, v in stages.items()}
    return {
        "bare_ms": statistics.median(bare) * 1e3,
        "predictor_ms": statistics.median(full) * 1e3,
        "ratio": statistics.median(full) / statistics.median(bare),
        "detections": detections,
        **{f"{k}_ms": v for k, v in med.items()},
    }


def cold_start(bundle: Path, image: Path, runs: int) -> float:
    """Median seconds for `edgeloop predict BUNDLE IMAGE` from process start to exit."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "edgeloop", "predict", str(bundle), str(image), "--json"],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="your own ONNX (default: a generated yolo11n-sized model)")
    parser.add_argument("--sizes", default="640,320", help="input sizes to test")
    parser.add_argument("--images", default="640x480,1280x720", help="JPEG sizes WxH, comma-separated")
    parser.add_argument("--image-file", type=Path, help="use this JPEG instead of generated ones")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--spinning", choices=["auto", "on", "off"], default="auto", help="ONNX Runtime thread spinning"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--fast-decode", action="store_true", help="Predictor(fast_decode=True): reduced-size JPEG decode"
    )
    args = parser.parse_args()
    sizes_wh = [tuple(int(v) for v in size.lower().split("x")) for size in args.images.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        imgsz_list = [int(s) for s in args.sizes.split(",")]
        for imgsz in imgsz_list[:1] if args.model is not None else imgsz_list:
            bundle = make_bundle(workdir, imgsz, args.model)
            spinning = None if args.spinning == "auto" else args.spinning == "on"
            config = OnnxRuntimeConfig(intra_op_threads=args.threads, allow_spinning=spinning)
            sources = (
                [(args.image_file.read_bytes(), 0, 0)]
                if args.image_file
                else [(scene_jpeg(w, h), w, h) for w, h in sizes_wh]
            )
            for jpeg, width, height in sources:
                if args.image_file:
                    height, width = decode_image(jpeg).shape[:2]
                image_path = workdir / f"scene-{width}x{height}.jpg"
                image_path.write_bytes(jpeg)
                with Predictor(bundle, config, fast_decode=args.fast_decode) as predictor:
                    row = interleaved(predictor, jpeg, args.rounds)
                    row["imgsz"] = predictor.input_spec.size_hw[0]
                row["jpeg"] = f"{width}x{height}"
                row["cold_start_s"] = cold_start(bundle, image_path, args.cold_runs)
                results.append(row)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"model: {args.model or 'generated yolo11n-sized (random weights)'}; "
        f"{args.rounds} interleaved rounds; cpu count {os.cpu_count()}"
    )
    header = (
        f"{'imgsz':>5} {'jpeg':>9} {'bare ms':>8} {'e2e ms':>8} {'ratio':>6} {'target':>6}  "
        f"{'decode':>6} {'prep':>6} {'infer':>6} {'post':>6} {'dets':>4} {'cold s':>6}"
    )
    print(header)
    for r in results:
        target = TARGETS.get(int(r["imgsz"]))
        verdict = "" if target is None else ("ok" if r["ratio"] <= target else "MISS")
        print(
            f"{r['imgsz']:>5} {r['jpeg']:>9} {r['bare_ms']:>8.2f} {r['predictor_ms']:>8.2f} "
            f"{r['ratio']:>6.3f} "
            f"{target or '-':>6} {r['decode_ms']:>6.2f} {r['preprocess_ms']:>6.2f} {r['infer_ms']:>6.2f} "
            f"{r['postprocess_ms']:>6.2f} {r['detections']:>4} {r['cold_start_s']:>6.2f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
