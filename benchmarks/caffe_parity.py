#!/usr/bin/env python
"""Caffe import parity at full count: edgeloop's converter and ssd decoder against OpenCV DNN's Caffe reader.

For each seed: a MobileNet-SSD (the published architecture, 300x300, ``--classes`` including
the background) with seeded random weights is written, imported with this checkout's code in
the reference environment (so the import checks the bundle against OpenCV), then both run
``--images`` synthetic scenes: OpenCV with its own PriorBox + DetectionOutput on
``cv2.dnn.blobFromImage``, edgeloop through its Predictor. Prints one JSON line per seed and
a total (reference boxes matched at IoU >= 0.9, same class, confidence within 0.01); exits 1
below 99%.

    python benchmarks/caffe_parity.py [--seeds 5] [--images 20] [--classes 4] [--variant]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeloop.bundle import load_bundle
from edgeloop.testing.caffe_models import mobilenet_ssd
from edgeloop.testing.caffe_parity import compare, edgeloop_ssd, opencv_ssd, write_images
from edgeloop.testing.refs import refs_python

SRC = Path(__file__).resolve().parents[1] / "src"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--classes", type=int, default=4, help="num_classes, background included")
    parser.add_argument(
        "--variant",
        action="store_true",
        help="merged-BN deploy form, explicit PriorBox step, clip, offset 0.4, no flip; half width",
    )
    args = parser.parse_args()
    matched = total = ours = 0
    worst_diff = worst_conf = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            work = Path(tmp) / f"seed{seed}"
            width = 0.5 if args.variant else 1.0
            prototxt, weights = mobilenet_ssd(
                work / "model", num_classes=args.classes, seed=seed, width=width, variant=args.variant
            )
            names = ",".join(f"c{i}" for i in range(args.classes - 1))
            env = {**os.environ, "PYTHONPATH": str(SRC)}
            cmd = [str(refs_python()), "-m", "edgeloop", "import", str(prototxt), "--weights", str(weights)]
            cmd += ["--names", names, "--out", str(work / "bundle")]
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            check = (load_bundle(work / "bundle").manifest.provenance.model_extra or {})["source_check"]
            images = write_images(work / "images", args.images, seed=100 + seed)
            parity = compare(edgeloop_ssd(work / "bundle", images), opencv_ssd(prototxt, weights, images))
            matched, total, ours = matched + parity.matched, total + parity.total, ours + parity.ours
            worst_diff = max(worst_diff, float(check["max_abs_diff"]))
            worst_conf = max(worst_conf, parity.worst_conf_diff)
            line = {"seed": seed, "matched": parity.matched, "total": parity.total, "ours": parity.ours}
            line |= {"import_max_abs_diff": check["max_abs_diff"], "worst_conf_diff": parity.worst_conf_diff}
            print(json.dumps(line), flush=True)
    fraction = matched / total if total else 0.0
    summary = {"matched": matched, "total": total, "ours": ours, "fraction": round(fraction, 5)}
    summary |= {"worst_import_max_abs_diff": worst_diff, "worst_conf_diff": worst_conf}
    print(json.dumps({"total": summary}))
    return 0 if fraction >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
