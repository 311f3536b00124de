"""Caffe parity against OpenCV DNN's own Caffe reader (OpenCV 4.x in ``.venv-refs``).

OpenCV runs the prototxt and caffemodel as they are, PriorBox and DetectionOutput included,
on images prepared by ``cv2.dnn.blobFromImage``; edgeloop runs the imported bundle through
its ``Predictor`` and the ``ssd`` decoder. Boxes are matched greedily by class and IoU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop.convert.samples import synthetic_image
from edgeloop.imaging import write_image
from edgeloop.testing.parity import Boxes, match_boxes
from edgeloop.testing.refs import run_refs
from edgeloop.types import Detections

_OPENCV_SSD = """
import json, sys
import cv2, numpy as np
prototxt, weights, scale, mean, h, w = sys.argv[1:7]
net = cv2.dnn.readNetFromCaffe(prototxt, weights)
net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
out = []
for path in sys.argv[7:]:
    image = cv2.imread(path)
    # A plain number as mean would subtract from the first channel only: pass all three.
    size, means = (int(w), int(h)), (float(mean),) * 3
    blob = cv2.dnn.blobFromImage(image, float(scale), size, means, swapRB=False, crop=False)
    net.setInput(blob)
    rows = net.forward().reshape(-1, 7)
    rows = rows[rows[:, 2] > 0]
    ih, iw = image.shape[:2]
    boxes = np.clip(rows[:, 3:7], 0, 1) * [iw, ih, iw, ih]
    cls = (rows[:, 1] - 1).astype(int).tolist()
    out.append({"cls": cls, "conf": rows[:, 2].tolist(), "xyxy": boxes.tolist()})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Parity:
    """How many reference boxes found a partner (same class, IoU, confidence within tolerance)."""

    matched: int
    total: int
    ours: int
    worst_conf_diff: float

    @property
    def fraction(self) -> float:
        return self.matched / self.total if self.total else 1.0


def write_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` synthetic PNG scenes of assorted sizes (lossless, so every reader sees the same pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [(300, 300), (480, 640), (375, 500), (720, 540), (240, 320)]
    paths = []
    for i in range(count):
        path = folder / f"scene-{seed}-{i}.png"
        write_image(path, synthetic_image(sizes[i % len(sizes)], seed=seed * 1000 + i))
        paths.append(path)
    return paths


def opencv_ssd(
    prototxt: Path, weights: Path, images: list[Path], scale: float = 0.007843, mean: float = 127.5,
    size_hw: tuple[int, int] = (300, 300),
) -> list[Boxes]:  # fmt: skip
    """OpenCV DNN's detections (DetectionOutput rows, class ids shifted past the background)."""
    args = [str(prototxt), str(weights), str(scale), str(mean), str(size_hw[0]), str(size_hw[1])]
    raw = json.loads(run_refs(_OPENCV_SSD, *args, *[str(p) for p in images]).strip().splitlines()[-1])
    return [
        Boxes(
            np.asarray(r["xyxy"], np.float32).reshape(-1, 4),
            np.asarray(r["conf"], np.float32),
            np.asarray(r["cls"], np.int32),
        )
        for r in raw
    ]


def compare(ours: list[Boxes], theirs: list[Boxes]) -> Parity:
    """Parity over several images: OpenCV's boxes (``theirs``) are the reference."""
    matched = total = count = 0
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        m = match_boxes(b, a, iou=0.9, conf_tol=0.01)
        matched, total, count = matched + m.matched, total + m.total, count + len(a.conf)
        worst = max(worst, m.max_conf_diff)
    return Parity(matched, total, count, worst)


def edgeloop_ssd(bundle: Path, images: list[Path]) -> list[Boxes]:
    """The bundle's detections through edgeloop's Predictor (ONNX Runtime) and ``ssd`` decoder."""
    from edgeloop.predictor import Predictor

    out = []
    with Predictor(bundle) as predictor:
        for path in images:
            det = predictor.predict(path)
            if not isinstance(det, Detections):
                raise TypeError(f"{bundle} is not a detector")
            out.append(Boxes.of(det))
    return out
