"""Darknet import: YOLOv4-tiny and YOLOv3-tiny (published layer structures, seeded random weights)
converted by edgeloop and decoded by the ``yolo-anchors`` family, against OpenCV DNN 4.14's own
Darknet reader and [yolo] layer on the same files and the same prepared images.

Acceptance: >= 99% of boxes matched at IoU >= 0.9 with the same class, confidences within 0.01.
The full counts over more images are in benchmarks/darknet_parity.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.convert.darknet.cfg import read_cfg
from edgeloop.convert.darknet.layers import Network, build_network
from edgeloop.convert.samples import synthetic_image
from edgeloop.predictor import Predictor
from edgeloop.testing.darknet_models import write_model, yolov3_tiny_cfg, yolov4_tiny_cfg
from edgeloop.testing.darknet_parity import Boxes, Match, match, run_opencv

NAMES = ["person", "car", "dog"]
SIZE = 224
IOU = 0.45  # Darknet's own NMS threshold
MODELS = {"yolov4-tiny": yolov4_tiny_cfg, "yolov3-tiny": yolov3_tiny_cfg}
IMAGE_SIZES = [(300, 400), (480, 360), (224, 224), (500, 700)]


def _import(tmp: Path, name: str) -> tuple[Path, Path, Bundle]:
    cfg, weights = write_model(tmp / "src", name, MODELS[name](SIZE, len(NAMES)), seed=7, fraction=0.08)
    bundle = convert_model(
        cfg, tmp / name, ConvertOptions(weights=weights, names=NAMES, iou=IOU, check=False)
    )
    return cfg, weights, bundle


@pytest.mark.parametrize("name", list(MODELS))
def test_detections_match_opencv_darknet(name: str, tmp_path: Path) -> None:
    cfg, weights, bundle = _import(tmp_path, name)
    assert bundle.manifest.family == "yolo-anchors"
    assert bundle.manifest.input.resize == "stretch"
    images = [synthetic_image(hw, seed=20 + k) for k, hw in enumerate(IMAGE_SIZES)]
    with Predictor(bundle) as predictor:
        tensors = [predictor.prepare(image).tensor for image in images]
        ours = [predictor.predict(image) for image in images]
    opencv = run_opencv(
        cfg, weights, tensors, [(i.shape[1], i.shape[0]) for i in images], 0.25, IOU, tmp_path, _network(cfg)
    )
    assert opencv.version.startswith("4.")
    total = Match(0, 0, 0.0)
    for result, theirs in zip(ours, opencv.boxes, strict=True):
        total = total + match(Boxes.of(result), theirs)
    assert total.total >= 80, f"too few boxes to compare: {total}"
    assert total.ratio >= 0.99, total
    assert total.max_conf_diff <= 0.01
    with Predictor(bundle) as predictor:  # the raw maps too: the network itself, before any decoding
        for tensor, raw in zip(tensors, opencv.raw, strict=True):
            for a, b in zip(predictor.infer(tensor), raw, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-3)


def _network(cfg: Path) -> Network:
    return build_network(read_cfg(cfg))


def test_import_check_against_opencv_in_the_reference_environment(tmp_path: Path) -> None:
    """``edgeloop import`` run where cv2 has the Darknet reader records a checked bundle."""
    import subprocess

    from edgeloop.testing.refs import refs_python

    cfg, weights = write_model(tmp_path / "src", "yolov4-tiny", yolov4_tiny_cfg(SIZE, 3), seed=3)
    names = tmp_path / "coco3.names"
    names.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    src = Path(__file__).resolve().parents[2] / "src"
    args = [str(cfg), "--weights", str(weights), "--names", str(names), "--out", str(tmp_path / "b")]
    done = subprocess.run(
        [str(refs_python()), "-m", "edgeloop", "import", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "COLUMNS": "300"},
    )
    assert done.returncode == 0, done.stderr
    assert "checked against opencv-dnn 4." in done.stderr
    check = (load_bundle(tmp_path / "b").manifest.provenance.model_extra or {})["source_check"]
    assert check["checked"] is True
    assert check["max_abs_diff"] < 1e-3


def test_without_an_opencv_darknet_reader_the_bundle_is_recorded_unchecked(tmp_path: Path) -> None:
    import cv2

    if hasattr(cv2.dnn, "readNetFromDarknet"):
        pytest.skip(f"OpenCV {cv2.__version__} has a Darknet reader here")  # the main env has OpenCV 5
    cfg, weights = write_model(tmp_path / "src", "m", yolov4_tiny_cfg(SIZE, 3), seed=3)
    bundle = convert_model(cfg, tmp_path / "b", ConvertOptions(weights=weights))
    extra = bundle.manifest.provenance.model_extra or {}
    assert extra["source_check"]["checked"] is False
    assert any("has no Darknet reader" in n for n in extra["notes"])
    assert bundle.manifest.names == ["class0", "class1", "class2"]
    assert any("no --names given" in n for n in extra["notes"])
