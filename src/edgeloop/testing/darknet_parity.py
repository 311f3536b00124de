"""Darknet parity: edgeloop's converted bundle against OpenCV DNN's own Darknet reader.

OpenCV (4.x, in the reference environment) loads the same .cfg and .weights, runs the same
prepared input tensors through its own implementation of the network and of the [yolo]
layer, and its detections are made the way OpenCV's samples make them: per row of the
[yolo] layers' output, the best class score (objectness x class probability), a threshold,
boxes scaled to the original image, then ``cv2.dnn.NMSBoxesBatched``. ``match`` pairs them
with edgeloop's detections.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.convert.darknet.layers import Network
from edgeloop.testing.parity import Boxes, Match, match_boxes
from edgeloop.testing.refs import refs_python

SRC = Path(__file__).resolve().parents[2]

OPENCV_SCRIPT = r"""
import sys, numpy as np, cv2
cfg, weights, inputs, out, conf, iou, max_det, feeds = sys.argv[1:9]
conf, iou, max_det = float(conf), float(iou), int(max_det)
net = cv2.dnn.readNetFromDarknet(cfg, weights)
net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
data = np.load(inputs)
names = list(net.getUnconnectedOutLayersNames())
layers = list(net.getLayerNames())
wanted = []
for feed in filter(None, feeds.split(",")):  # "I:A": conv layer I, A = 1 when an activation follows it
    i, act = feed.split(":")
    q = layers.index(f"conv_{i}") + 1
    q += layers[q] == f"bn_{i}"
    wanted.append(layers[q] if act == "1" else layers[q - 1])
result = {}
for k in range(int(data["count"])):
    net.setInput(data[f"tensor{k}"])
    if wanted:
        for j, o in enumerate(net.forward(wanted)):
            result[f"raw{k}_{j}"] = o
    rows = np.concatenate([o.reshape(-1, o.shape[-1]) for o in net.forward(names)])
    w0, h0 = (float(v) for v in data[f"wh{k}"])
    scores = rows[:, 5:]
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(cls)), cls]
    keep = best > conf
    rows, cls, best = rows[keep], cls[keep], best[keep]
    xywh = np.stack([(rows[:, 0] - rows[:, 2] / 2) * w0, (rows[:, 1] - rows[:, 3] / 2) * h0,
                     rows[:, 2] * w0, rows[:, 3] * h0], axis=1)
    idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), best.tolist(), cls.tolist(), conf, iou) if len(best) else []
    idx = np.asarray(idx, int).reshape(-1)
    idx = idx[np.argsort(-best[idx], kind="stable")][:max_det]
    xyxy = np.concatenate([xywh[idx, :2], xywh[idx, :2] + xywh[idx, 2:]], axis=1)
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, w0)
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, h0)
    result[f"xyxy{k}"], result[f"conf{k}"], result[f"cls{k}"] = xyxy, best[idx], cls[idx]
result["version"] = np.array(cv2.__version__)
np.savez(out, **result)
"""


@dataclass(frozen=True)
class OpenCVRun:
    version: str
    boxes: list[Boxes]
    raw: list[list[npt.NDArray[Any]]]


def run_opencv(
    cfg: Path,
    weights: Path,
    tensors: list[npt.NDArray[Any]],
    original_wh: list[tuple[int, int]],
    conf: float,
    iou: float,
    work: Path,
    network: Network | None = None,
    max_det: int = 300,
) -> OpenCVRun:
    """OpenCV's detections for each prepared tensor (and, given the ``network``, the raw maps
    feeding its [yolo] layers, named the way OpenCV names Darknet layers)."""
    feeds = []
    if network is not None:
        for yolo in network.yolo_layers():
            conv = network.layers[yolo.inputs[0]]
            feeds.append(f"{conv.index}:{int(conv.activation != 'linear')}")
    inputs, out = work / "opencv-in.npz", work / "opencv-out.npz"
    arrays: dict[str, Any] = {"count": np.array(len(tensors))}
    for k, (t, wh) in enumerate(zip(tensors, original_wh, strict=True)):
        arrays[f"tensor{k}"], arrays[f"wh{k}"] = np.asarray(t, np.float32), np.array(wh)
    np.savez(inputs, **arrays)
    args = [str(p) for p in (cfg, weights, inputs, out, conf, iou, max_det)] + [",".join(feeds)]
    result = subprocess.run(
        [str(refs_python()), "-c", OPENCV_SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"OpenCV reference failed: {result.stderr[-2000:]}")
    data = np.load(out)
    boxes = [Boxes(data[f"xyxy{k}"], data[f"conf{k}"], data[f"cls{k}"]) for k in range(len(tensors))]
    raw = [[data[f"raw{k}_{j}"] for j in range(len(feeds))] for k in range(len(tensors))]
    return OpenCVRun(str(data["version"]), boxes, raw)


def match(ours: Boxes, theirs: Boxes, iou: float = 0.9, conf_tol: float = 0.01) -> Match:
    """``match_boxes`` with ``theirs`` as the reference: pairs of the same class, IoU >= ``iou``
    and confidences within ``conf_tol``, out of the larger of the two box counts."""
    found = match_boxes(theirs, ours, iou, conf_tol)
    return Match(found.matched, max(len(ours.conf), len(theirs.conf)), found.max_conf_diff)
