#!/usr/bin/env python
"""ncnn against ONNX Runtime on many images: the full counts behind tests/backends/test_ncnn.py.

For each detector layout (``yolo``: (1, 4 + nc, N) anchor-free; ``yolov5``: (1, N, 5 + nc)
with objectness) it builds the random detector of ``edgeloop.testing.parity`` (about 100
boxes per image), makes its ncnn variant with ``edgeloop optimize --ncnn``, runs both
runtimes through the Predictor on ``--images`` synthetic images and prints how many ONNX
Runtime boxes ncnn reproduces (same class, IoU >= 0.95) and the largest confidence difference.

    python benchmarks/ncnn_parity.py [--images 50] [--imgsz 320]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edgeloop.backends import NcnnConfig
from edgeloop.bundle import load_bundle
from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.testing.parity import compare_runtimes, parity_detector, parity_images


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--iou", type=float, default=0.95)
    args = parser.parse_args()
    images = parity_images(args.images, (args.imgsz, args.imgsz), seed=7)
    with tempfile.TemporaryDirectory(prefix="edgeloop-ncnn-parity-") as tmp:
        for family in ("yolo", "yolov5"):
            source = parity_detector(Path(tmp) / family, family, imgsz=args.imgsz)
            out = Path(tmp) / f"{family}-ncnn"
            optimize(source.root, out, OptimizeOptions(ncnn=True, latency_runs=3, progress=False))
            match = compare_runtimes(load_bundle(out), NcnnConfig(), images, args.iou)
            print(
                f"{family:<7} {args.imgsz}px {args.images} images: "
                f"ncnn matched {match.matched}/{match.total} ONNX Runtime boxes ({match.ratio:.2%}) "
                f"at IoU >= {args.iou}, "
                f"max confidence difference {match.max_conf_diff:.2g}"
            )


if __name__ == "__main__":
    main()
