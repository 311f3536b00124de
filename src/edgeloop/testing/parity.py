"""Does another runtime reproduce ONNX Runtime's detections? Detectors, images and box matching.

Used by the ncnn tests and ``benchmarks/``: a random YOLO-style detector (conv, SiLU,
upsample, concat, DFL head) whose class bias lets a healthy number of boxes through,
in the anchor-free ``yolo`` layout or the ``yolov5`` layout (boxes, objectness, classes),
run on synthetic images through two Predictors; every ONNX Runtime box must have a
partner of the same class at IoU >= the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.backends import BackendConfig, OnnxRuntimeConfig
from edgeloop.bundle import Bundle
from edgeloop.postprocess.nms import box_iou_one_to_many
from edgeloop.types import Detections


@dataclass(frozen=True)
class Boxes:
    """One image's detections: (N, 4) xyxy pixels, (N,) confidences, (N,) class ids."""

    xyxy: npt.NDArray[np.floating[Any]]
    conf: npt.NDArray[np.floating[Any]]
    cls: npt.NDArray[np.integer[Any]]

    @classmethod
    def of(cls, detections: Detections) -> Boxes:
        return cls(detections.xyxy, detections.confidence, detections.class_id)


@dataclass(frozen=True)
class Match:
    """How many reference boxes found a partner, and the largest confidence difference among them."""

    matched: int
    total: int
    max_conf_diff: float

    @property
    def ratio(self) -> float:
        return self.matched / self.total if self.total else 1.0

    def __add__(self, other: Match) -> Match:
        return Match(
            self.matched + other.matched,
            self.total + other.total,
            max(self.max_conf_diff, other.max_conf_diff),
        )


def match_boxes(reference: Boxes, other: Boxes, iou: float, conf_tol: float | None = None) -> Match:
    """Greedy one-to-one matching, most confident reference box first.

    Each reference box takes the free ``other`` box of the same class with the highest IoU
    (float32); the pair counts when that IoU is >= ``iou`` and, given ``conf_tol``, the
    confidences differ by at most ``conf_tol`` (otherwise the box stays free for the next).
    ``total`` is the number of reference boxes; ``max_conf_diff`` is over matched pairs.
    """
    ref_xyxy, xyxy = np.asarray(reference.xyxy, np.float32), np.asarray(other.xyxy, np.float32)
    free = np.ones(len(other.conf), bool)
    matched, conf_diff = 0, 0.0
    for i in np.argsort(-reference.conf, kind="stable"):
        candidates = free & (other.cls == reference.cls[i])
        if not candidates.any():
            continue
        overlaps = np.where(candidates, box_iou_one_to_many(ref_xyxy[i], xyxy), -1.0)
        j = int(np.argmax(overlaps))
        diff = abs(float(reference.conf[i]) - float(other.conf[j]))
        if overlaps[j] >= iou and (conf_tol is None or diff <= conf_tol):
            free[j] = False
            matched += 1
            conf_diff = max(conf_diff, diff)
    return Match(matched, len(reference.conf), conf_diff)


def match_detections(reference: Detections, other: Detections, iou: float = 0.95) -> Match:
    """``match_boxes`` of two Detections: same class, IoU >= ``iou``, any confidence."""
    return match_boxes(Boxes.of(reference), Boxes.of(other), iou)


def parity_images(
    count: int, size_hw: tuple[int, int] = (320, 320), seed: int = 0
) -> list[npt.NDArray[np.uint8]]:
    """BGR images of random coloured rectangles on smooth noise: varied, reproducible inputs."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    images = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
        image = np.ascontiguousarray(np.repeat(np.repeat(coarse, 16, 0), 16, 1)[:h, :w])
        for _ in range(int(rng.integers(3, 9))):
            y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
            y1, x1 = y0 + int(rng.integers(8, h // 2)), x0 + int(rng.integers(8, w // 2))
            image[y0:y1, x0:x1] = rng.integers(0, 256, 3).astype(np.uint8)
        images.append(image)
    return images


def yolov5_layout(yolo_onnx: str | Path, out: str | Path) -> Path:
    """Rewrite a (1, 4 + nc, N) anchor-free detector as a YOLOv5-layout one: (1, N, 5 + nc),
    objectness = the square root of the best class score (a real second factor in the score)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(yolo_onnx))
    graph = model.graph
    old = graph.output[0]
    dims = [d.dim_value for d in old.type.tensor_type.shape.dim]
    channels, anchors = dims[1], dims[2]
    graph.initializer.append(numpy_helper.from_array(np.array([4, channels - 4], np.int64), "v5_split"))
    graph.node.extend(
        [
            helper.make_node("Split", [old.name, "v5_split"], ["v5_xywh", "v5_cls"], axis=1),
            helper.make_node("ReduceMax", ["v5_cls"], ["v5_best"], axes=[1], keepdims=1),
            helper.make_node("Sqrt", ["v5_best"], ["v5_obj"]),
            helper.make_node("Concat", ["v5_xywh", "v5_obj", "v5_cls"], ["v5_all"], axis=1),
            helper.make_node("Transpose", ["v5_all"], ["output_v5"], perm=[0, 2, 1]),
        ]
    )
    graph.output.pop()
    graph.output.append(
        helper.make_tensor_value_info("output_v5", onnx.TensorProto.FLOAT, [1, anchors, channels + 1])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return Path(out)


_CLASS_BIAS = {"yolo": -1.5, "yolov5": -0.75}  # about 100 boxes per parity image after NMS


def parity_detector(
    work: Path, family: str = "yolo", imgsz: int = 320, class_bias: float | None = None
) -> Bundle:
    """A bundle of a small random detector (``yolo`` or ``yolov5`` layout) that finds about
    100 boxes per ``parity_images`` image at the default confidence 0.25."""
    from edgeloop.importer import ImportOptions, import_onnx
    from edgeloop.testing.onnx_models import random_yolo

    if family not in _CLASS_BIAS:
        raise ValueError(f"parity_detector makes 'yolo' or 'yolov5' detectors, not '{family}'")
    bias = _CLASS_BIAS[family] if class_bias is None else class_bias
    work.mkdir(parents=True, exist_ok=True)
    model = random_yolo(work / "random-yolo.onnx", imgsz=imgsz, num_classes=3, class_bias=bias, width=0.25)
    if family == "yolov5":
        model = yolov5_layout(model, work / "random-yolov5.onnx")
    return import_onnx(model, work / f"bundle-{family}", ImportOptions(family=family))


def need_ncnn(convert: bool = False) -> None:
    """Skip the calling test (fail it under CI=true) without the ncnn runtime, or without pnnx
    when it converts."""
    import importlib.util

    from edgeloop.errors import BackendError
    from edgeloop.testing.components import need

    need(importlib.util.find_spec("ncnn") is not None, "ncnn (pip install 'edgeloop[ncnn]')")
    if convert:
        from edgeloop.export.ncnn import pnnx_command

        try:
            pnnx_command()
        except BackendError:
            need(False, "pnnx (pip install 'edgeloop[ncnn-convert]')")


def compare_runtimes(
    bundle: Bundle, other: BackendConfig, images: list[npt.NDArray[np.uint8]], iou: float = 0.95
) -> Match:
    """ONNX Runtime's detections on ``images`` against those of the backend ``other`` (each runs
    the bundle's variant made for it: ncnn its ncnn files)."""
    from edgeloop.predictor import Predictor

    total = Match(0, 0, 0.0)
    with Predictor(bundle, OnnxRuntimeConfig()) as reference, Predictor(bundle, other) as candidate:
        for image in images:
            a, b = reference.predict(image), candidate.predict(image)
            if not (isinstance(a, Detections) and isinstance(b, Detections)):
                raise TypeError(f"bundle '{bundle.manifest.name}' is no detector")
            total = total + match_detections(a, b, iou)
    return total
