#!/usr/bin/env python
"""ONNX Runtime against the other CPU runtimes of one bundle (ncnn, LiteRT), interleaved, medians.

Every variant of the bundle whose backend is registered and installed here runs
(``model.onnx`` on onnxruntime, ``ncnn/model.ncnn.param`` on ncnn, a ``.tflite`` on
litert, ...; ``--backends`` narrows the list). Each round runs ``Predictor.predict_timed``
on the same JPEG once per runtime, in alternating order, so all of them see the same
machine load; it prints each runtime's median inference and end-to-end milliseconds and
their ratio to ONNX Runtime's, at each ``--threads`` setting (default 2 and 1).

Without ``--bundle`` it generates a YOLO11n-sized random detector
(``edgeloop.testing.onnx_models.random_yolo``) and makes its ncnn variant with
``edgeloop optimize --ncnn``, so it runs offline anywhere pnnx is installed.

    python benchmarks/runtimes.py [--bundle DIR] [--imgsz 640] [--rounds 40] [--threads 2,1]

On a shared machine absolute times drift; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeloop.backends import BACKENDS, backend_config
from edgeloop.backends.config import sharing_process
from edgeloop.bundle import Bundle, Variant, load_bundle
from edgeloop.errors import ConfigError
from edgeloop.hardware.bench import synthetic_jpeg
from edgeloop.importer import ImportOptions, import_onnx
from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.predictor import Predictor
from edgeloop.testing.onnx_models import random_yolo

BASELINE = "onnxruntime"


@dataclass
class Row:
    threads: int
    backend: str
    variant: str
    infer_ms: float
    total_ms: float
    infer_vs_ort: float  # ONNX Runtime's median / this one's: > 1 is faster than ONNX Runtime
    total_vs_ort: float


def make_bundle(work: Path, imgsz: int) -> Path:
    """A YOLO11n-sized random detector with its ncnn variant."""
    model = random_yolo(work / f"yolo11n-sized-{imgsz}.onnx", imgsz=imgsz)
    source = import_onnx(model, work / "bundle", ImportOptions(imgsz_hw=(imgsz, imgsz)))
    optimize(source.root, work / "bundle-ncnn", OptimizeOptions(ncnn=True, latency_runs=3, progress=False))
    return work / "bundle-ncnn"


def runnable(bundle: Bundle, wanted: list[str]) -> tuple[list[tuple[str, Variant]], list[str]]:
    """(backend, variant) pairs to time, and why others were skipped."""
    pairs, skipped = [], []
    for variant in bundle.manifest.variants:
        name = variant.backends[0] if variant.backends else BASELINE
        if name not in wanted:
            continue
        if name not in BACKENDS.names():
            skipped.append(f"{variant.file}: no '{name}' backend registered")
        elif not BACKENDS.get(name).available():
            skipped.append(f"{variant.file}: the {name} runtime is not installed")
        elif variant.precision != "fp32":
            skipped.append(f"{variant.file}: {variant.precision} (this compares fp32 runtimes)")
        else:
            pairs.append((name, variant))
    return pairs, skipped


def measure(
    bundle: Bundle, pairs: list[tuple[str, Variant]], threads: int, image: bytes, rounds: int
) -> list[Row]:
    predictors: dict[str, Predictor] = {}
    try:
        for name, variant in pairs:
            try:
                config = sharing_process(backend_config(name, None, threads))
            except ConfigError as exc:
                print(f"  {name}: {exc}; skipped at {threads} threads", file=sys.stderr)
                continue
            predictor = Predictor(bundle, config, precision=variant.precision)
            if predictor.variant.file != variant.file:
                predictor.close()
                continue
            predictors[f"{name}:{variant.file}"] = predictor
        infer: dict[str, list[float]] = {key: [] for key in predictors}
        total: dict[str, list[float]] = {key: [] for key in predictors}
        keys = list(predictors)
        for index in range(rounds + 3):  # three warm-up rounds
            for key in keys if index % 2 else reversed(keys):
                _, timing = predictors[key].predict_timed(image)
                if index >= 3:
                    infer[key].append(timing.infer_s * 1e3)
                    total[key].append(timing.total_s * 1e3)
    finally:
        for predictor in predictors.values():
            predictor.close()
    medians = {key: (statistics.median(infer[key]), statistics.median(total[key])) for key in infer}
    base = next((m for key, m in medians.items() if key.startswith(BASELINE + ":")), None)
    rows = []
    for key, (infer_ms, total_ms) in medians.items():
        backend, variant = key.split(":", 1)
        rows.append(
            Row(
                threads,
                backend,
                variant,
                round(infer_ms, 2),
                round(total_ms, 2),
                round(base[0] / infer_ms, 3) if base else float("nan"),
                round(base[1] / total_ms, 3) if base else float("nan"),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bundle", type=Path, help="a bundle with several runtimes' variants (default: generated)"
    )
    parser.add_argument("--imgsz", type=int, default=640, help="input size of the generated model")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", default="2,1", help="thread settings to compare, e.g. 4,2,1")
    parser.add_argument(
        "--backends", default="onnxruntime,ncnn,litert", help="which variants' backends to run"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeloop-runtimes-") as tmp:
        root = args.bundle or make_bundle(Path(tmp), args.imgsz)
        bundle = load_bundle(root)
        pairs, skipped = runnable(bundle, args.backends.split(","))
        for reason in skipped:
            print(f"skipped {reason}", file=sys.stderr)
        image = synthetic_jpeg()
        print(
            f"{bundle.manifest.name}, input {bundle.manifest.input.size_hw}, 1280x720 JPEG, "
            f"{args.rounds} interleaved rounds, {platform.machine()}, {platform.processor() or '?'}"
        )
        print(f"{'threads':>7} {'backend':<12} {'variant':<24} {'infer ms':>9} {'total ms':>9} "
              f"{'infer vs ORT':>12} {'total vs ORT':>12}")  # fmt: skip
        for threads in (int(t) for t in args.threads.split(",")):
            for row in measure(bundle, pairs, threads, image, args.rounds):
                print(
                    f"{row.threads:>7} {row.backend:<12} {row.variant:<24} {row.infer_ms:>9.1f} "
                    f"{row.total_ms:>9.1f} {row.infer_vs_ort:>11.2f}x {row.total_vs_ort:>11.2f}x"
                )
                if args.json:
                    print(json.dumps(asdict(row)))
    print("(x > 1: faster than ONNX Runtime; medians of interleaved rounds: compare ratios, not times)")


if __name__ == "__main__":
    main()
