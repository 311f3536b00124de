#!/usr/bin/env python
"""ncnn against ONNX Runtime on many images: the full counts behind tests/backends/test_ncnn.py.

For each detector layout (``yolo``: (1, 4 + nc, N) anchor-free; ``yolov5``: (1, N, 5 + nc)
with objectness) it builds the random detector of ``edgeloop.testing.parity`` (about 100
boxes per image), makes its ncnn variant with ``edgeloop optimize --ncnn``, runs both
runtimes through the Predictor on ``--images`` synthetic images and prints how many ONNX
Runtime boxes ncnn reproduces (same class, IoU >= 0.95) and the largest confidence difference.
``--yolo11n`` adds the YOLO11n-sized random detector (80 classes, 640) on 640x480 images.

    python benchmarks/ncnn_parity.py [--images 50] [--imgsz 320] [--yolo11n 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edgeloop.backends import NcnnConfig
from edgeloop.bundle import load_bundle
from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.testing.parity import compare_runtimes, parity_detector, parity_images
from edgeloop.types import Detections


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--iou", type=float, default=0.95)
    parser.add_argument(
        "--yolo11n", type=int, default=0, metavar="IMAGES", help="also the YOLO11n-sized model"
    )
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
        if args.yolo11n:
            yolo11n(Path(tmp), args.yolo11n, args.iou)


def yolo11n(work: Path, count: int, iou: float) -> None:
    """80 classes with a class bias that fills most images up to max_det (300): near-equal scores
    of overlapping random boxes make NMS keep a few different ones on each side."""
    from edgeloop.importer import ImportOptions, import_onnx
    from edgeloop.predictor import Predictor
    from edgeloop.testing.onnx_models import random_yolo
    from edgeloop.testing.parity import Match, match_detections

    model = random_yolo(work / "yolo11n-sized.onnx", imgsz=640, class_bias=-5.0)
    source = import_onnx(model, work / "yolo11n", ImportOptions(imgsz_hw=(640, 640)))
    optimize(source.root, work / "yolo11n-ncnn", OptimizeOptions(ncnn=True, latency_runs=3, progress=False))
    bundle = load_bundle(work / "yolo11n-ncnn")
    images = parity_images(count, (480, 640), seed=3)
    with Predictor(bundle) as reference, Predictor(bundle, NcnnConfig(threads=1)) as ncnn:
        for max_det in (300, 100_000):
            options = reference.options(max_det=max_det)
            total = Match(0, 0, 0.0)
            for image in images:
                a, b = reference.predict(image, options), ncnn.predict(image, options)
                assert isinstance(a, Detections) and isinstance(b, Detections)
                total = total + match_detections(a, b, iou)
            print(
                f"yolo11n-sized 640px {count} images, max_det {max_det}: "
                f"ncnn matched {total.matched}/{total.total} ({total.ratio:.2%}) at IoU >= {iou}, "
                f"max confidence difference {total.max_conf_diff:.2g}"
            )


if __name__ == "__main__":
    main()
