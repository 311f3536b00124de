#!/usr/bin/env python
"""Frames/s of ``edgeloop run`` on a 720p H.264 file against the Predictor's own maximum.

Each round runs, in alternating order:

  predictor: Predictor.predict on frames decoded beforehand (the ceiling: no decode, no sink)
  run_wN:    the real ``edgeloop run BUNDLE --source FILE --sink jsonl:OUT --workers N`` command
             (frames / seconds of the pipeline, read from its ``--summary-json``), for each
             N in ``--workers`` (default 1 and 2: one frame at a time on all cores, or two
             frames at once on half the cores each)
  serial:    a naive loop in one thread: decode a frame -> predict -> write a JSONL line

and prints medians and the ratios run/predictor (target >= 0.9) and
serial/predictor. The predictor ceiling is the Predictor as a user gets it
(default threads, one image at a time). The model is generated (yolo11n-sized, random weights) and
the video is made by ffmpeg (testsrc2, 1280x720, 25 fps), so anyone can rerun it offline.

    python benchmarks/stream_throughput.py [--imgsz 640] [--seconds 4] [--rounds 3] [--workers 1,2]
        [--model m.onnx]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.predictor import Predictor
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.types import Detections


def make_video(path: Path, seconds: int) -> Path:
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed to make the test video: apt-get install ffmpeg")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
         "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", str(path)],
        check=True,
    )  # fmt: skip
    return path


def decode_all(video: Path) -> list[object]:
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def predictor_fps(predictor: Predictor, frames: list[object]) -> float:
    start = time.perf_counter()
    for image in frames:
        predictor.predict(image)  # type: ignore[arg-type]
    return len(frames) / (time.perf_counter() - start)


def serial_fps(predictor: Predictor, video: Path, out: Path) -> float:
    start = time.perf_counter()
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    n = 0
    with out.open("w") as f:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            result = predictor.predict(image)
            assert isinstance(result, Detections)
            f.write(json.dumps({"frame": n, **result.to_json((image.shape[1], image.shape[0]))}) + "\n")
            n += 1
    capture.release()
    return n / (time.perf_counter() - start)


def run_fps(bundle: Path, video: Path, out: Path, workers: int) -> tuple[float, float]:
    """(pipeline frames/s from the summary, frames/s over the whole process incl. start-up)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", "run", str(bundle), "--source", str(video),
         "--sink", f"jsonl:{out}", "--summary-json", "--workers", str(workers)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(result.stderr)
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    return float(summary["fps"]), summary["frames"] / wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="edgeloop run --workers values to measure")
    parser.add_argument("--model", type=Path, help="your own ONNX instead of the generated one")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model or random_yolo(work / "m.onnx", imgsz=args.imgsz)
        bundle = work / "bundle"
        import_onnx(model, bundle, ImportOptions(imgsz_hw=None if args.model else (args.imgsz, args.imgsz)))
        video = make_video(work / "720p.mp4", args.seconds)
        frames = decode_all(video)
        runs = [f"run_w{w}" for w in workers]
        results: dict[str, list[float]] = {"predictor": [], **{k: [] for k in runs}, "serial": []}
        results.update({f"{k}_wall": [] for k in runs})
        with Predictor(bundle) as predictor:
            predictor_fps(predictor, frames[:10])  # warm-up
            for r in range(args.rounds):
                order = ["predictor", *runs, "serial"]
                for name in order if r % 2 == 0 else order[::-1]:
                    if name == "predictor":
                        results[name].append(predictor_fps(predictor, frames))
                    elif name == "serial":
                        results[name].append(serial_fps(predictor, video, work / "serial.jsonl"))
                    else:
                        fps, wall = run_fps(bundle, video, work / "run.jsonl", int(name.split("_w")[1]))
                        results[name].append(fps)
                        results[f"{name}_wall"].append(wall)
                print(
                    f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in results.items()),
                    file=sys.stderr,
                )
    med = {k: statistics.median(v) for k, v in results.items()}
    report = {
        "video": f"1280x720 H.264, {len(frames)} frames",
        "imgsz": args.imgsz,
        "rounds": args.rounds,
        "fps_median": {k: round(v, 2) for k, v in med.items()},
        **{f"{k}_vs_predictor": round(med[k] / med["predictor"], 3) for k in [*runs, "serial"]},
        # each round's own ratio (methods run back to back), less exposed to drift between rounds
        **{
            f"{k}_vs_predictor_per_round_median": round(
                statistics.median(a / p for a, p in zip(results[k], results["predictor"], strict=True)), 3
            )
            for k in [*runs, "serial"]
        },
        "target_run_vs_predictor": 0.9,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
