#!/usr/bin/env python
"""Darknet import parity at full size: edgeloop's converter + ``yolo-anchors`` decoder against
OpenCV DNN's own Darknet reader (4.x, in .venv-refs) on the same files and prepared images.

For each published architecture (YOLOv4-tiny, YOLOv3-tiny, YOLOv3, YOLOv4, YOLOv7-tiny; 80
classes, seeded random weights with calibrated objectness) it prints boxes matched at IoU >= 0.9
with the same class and confidences within 0.01 over the larger box count, the largest
confidence difference among matched boxes, and the largest raw head-map difference.

    PYTHONPATH=src python benchmarks/darknet_parity.py [--images 20] [--size 416] [--models a,b]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.convert.darknet.cfg import read_cfg
from edgeloop.convert.darknet.layers import build_network
from edgeloop.convert.samples import synthetic_image
from edgeloop.predictor import Predictor
from edgeloop.testing.darknet_models import write_model, yolov3_tiny_cfg, yolov4_tiny_cfg
from edgeloop.testing.darknet_parity import Boxes, Match, match, run_opencv
from edgeloop.testing.darknet_zoo import yolov3_cfg, yolov4_cfg, yolov7_tiny_cfg

MODELS = {
    "yolov4-tiny": yolov4_tiny_cfg,
    "yolov3-tiny": yolov3_tiny_cfg,
    "yolov3": yolov3_cfg,
    "yolov4": yolov4_cfg,
    "yolov7-tiny": yolov7_tiny_cfg,
}
CONF, IOU = 0.25, 0.45  # Darknet's detector defaults
# Share of anchor cells calibrated to objectness > 0.5 (tens to a few hundred boxes per image, under
# the 300 kept per image, so that no box is matched or missed because of that cut).
FRACTION = {"yolov7-tiny": 0.001}


def run(name: str, size: int, images: int, work: Path) -> None:
    start = time.monotonic()
    cfg, weights = write_model(
        work / "src", name, MODELS[name](size, 80), seed=11, fraction=FRACTION.get(name, 0.004)
    )
    names = [f"class{i}" for i in range(80)]
    options = ConvertOptions(weights=weights, names=names, iou=IOU, conf=CONF, check=False)
    bundle = convert_model(cfg, work / name, options)
    rng = np.random.default_rng(5)
    shapes = [(int(rng.integers(240, 720)), int(rng.integers(240, 960))) for _ in range(images)]
    pictures = [synthetic_image(hw, seed=100 + k) for k, hw in enumerate(shapes)]
    with Predictor(bundle) as predictor:
        tensors = [predictor.prepare(p).tensor for p in pictures]
        ours = [predictor.predict(p) for p in pictures]
        maps = [predictor.infer(t) for t in tensors]
    network = build_network(read_cfg(cfg))
    wh = [(p.shape[1], p.shape[0]) for p in pictures]
    opencv = run_opencv(cfg, weights, tensors, wh, CONF, IOU, work, network)
    total = Match(0, 0, 0.0)
    for result, theirs in zip(ours, opencv.boxes, strict=True):
        total = total + match(Boxes.of(result), theirs)
    raw = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for mine, ref in zip(maps, opencv.raw, strict=True)
        for a, b in zip(mine, ref, strict=True)
    )
    print(
        f"{name:12s} {size}x{size} {len(network.layers):3d} layers {network.param_count():>9d} weights  "
        f"boxes matched {total.matched}/{total.total} ({100 * total.ratio:.2f}%)  "
        f"max conf diff {total.max_conf_diff:.2g}  max raw diff {raw:.2g}  "
        f"(opencv {opencv.version}, {images} images, {time.monotonic() - start:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix="darknet-parity-") as work:
            run(name, args.size, args.images, Path(work))


if __name__ == "__main__":
    main()
