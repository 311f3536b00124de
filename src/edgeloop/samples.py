"""Golden samples: images stored in a bundle with the results the model must give.

A device runs them after installing or updating a bundle (and a server before
it reports ready), so a broken runtime, a wrong preprocessing setting or a
corrupted variant is caught before it serves a single real frame.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.bundle import Bundle, Sample, sha256_file, write_manifest
from edgeloop.errors import BundleError
from edgeloop.predictor import Predictor
from edgeloop.types import Classification, Detections

SAMPLES_DIR = "samples"


@dataclass(frozen=True)
class SampleCheck:
    """The outcome of one golden sample."""

    file: str
    ok: bool
    detail: str


def add_samples(bundle: Bundle, images: list[Path], predictor: Predictor) -> Bundle:
    """Copy ``images`` into the bundle and record what ``predictor`` finds in each."""
    manifest = bundle.manifest.model_copy(deep=True)
    (bundle.root / SAMPLES_DIR).mkdir(exist_ok=True)
    for image in images:
        result = predictor.predict(image)
        decoded = predictor.load_image(image)
        name = f"{SAMPLES_DIR}/{image.name}"
        if any(s.file == name for s in manifest.samples):
            raise BundleError(f"the bundle already has a sample named {image.name}")
        shutil.copyfile(image, bundle.path(name))
        expected = result.to_json((decoded.shape[1], decoded.shape[0]))
        manifest.samples.append(Sample(file=name, sha256=sha256_file(bundle.path(name)), expected=expected))
    write_manifest(bundle.root, manifest)
    return Bundle(bundle.root, manifest)


def _boxes(record: dict[str, Any]) -> tuple[np.ndarray, list[int], list[float]]:
    preds = record.get("predictions", [])
    xyxy = np.array(
        [
            [
                p["x"] - p["width"] / 2,
                p["y"] - p["height"] / 2,
                p["x"] + p["width"] / 2,
                p["y"] + p["height"] / 2,
            ]
            for p in preds
        ],
        dtype=np.float32,
    ).reshape(-1, 4)
    return xyxy, [int(p["class_id"]) for p in preds], [float(p["confidence"]) for p in preds]


def compare(
    expected: dict[str, Any], actual: dict[str, Any], iou_min: float = 0.9, conf_tol: float = 0.05
) -> str | None:
    """None when ``actual`` reproduces ``expected`` (wire format), else what differs."""
    if "top" in expected:
        if expected["top"] != actual.get("top"):
            return f"top class {actual.get('top')!r}, expected {expected['top']!r}"
        if abs(expected["confidence"] - actual["confidence"]) > conf_tol:
            return f"confidence {actual['confidence']:.3f}, expected {expected['confidence']:.3f}"
        return None
    from edgeloop.postprocess.nms import box_iou_one_to_many

    exp_xyxy, exp_cls, exp_conf = _boxes(expected)
    act_xyxy, act_cls, act_conf = _boxes(actual)
    if len(exp_cls) != len(act_cls):
        return f"{len(act_cls)} detections, expected {len(exp_cls)}"
    unused = set(range(len(act_cls)))
    for box, cls, conf in zip(exp_xyxy, exp_cls, exp_conf, strict=True):
        candidates = [j for j in unused if act_cls[j] == cls]
        if not candidates:
            return f"no detection of class {cls} left to match"
        ious = box_iou_one_to_many(box, act_xyxy[candidates])
        best = int(np.argmax(ious))
        j = candidates[best]
        if ious[best] < iou_min or abs(act_conf[j] - conf) > conf_tol:
            return (
                f"class {cls} box differs (IoU {ious[best]:.2f}, confidence {act_conf[j]:.3f} vs {conf:.3f})"
            )
        unused.discard(j)
    return None


def check_samples(predictor: Predictor) -> list[SampleCheck]:
    """Run every golden sample of the predictor's bundle and compare."""
    checks = []
    for sample in predictor.bundle.manifest.samples:
        path = predictor.bundle.path(sample.file)
        image = predictor.load_image(path)
        result = predictor.predict(image)
        assert isinstance(result, (Detections, Classification))
        problem = compare(sample.expected, result.to_json((image.shape[1], image.shape[0])))
        checks.append(SampleCheck(sample.file, problem is None, problem or "ok"))
    return checks
