"""Caffe import: edgeloop's converter against OpenCV DNN's own Caffe reader (OpenCV 4.14 in .venv-refs).

The models are written by the tests (``edgeloop.testing.caffe_models``): the published
MobileNet-SSD architecture and a small classifier, with seeded random weights.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import load_bundle
from edgeloop.convert import ConvertOptions, convert_model
from edgeloop.predictor import Predictor
from edgeloop.testing.caffe_models import classifier, mobilenet_ssd
from edgeloop.testing.caffe_parity import compare, edgeloop_ssd, opencv_ssd, write_images
from edgeloop.testing.refs import refs_python, run_refs

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = "cat,dog,bird"


def import_in_refs(model: Path, weights: Path, out: Path, *extra: str) -> dict[str, object]:
    """``edgeloop import`` with this checkout's code in the reference environment (OpenCV 4's Caffe
    reader available, so the import checks the bundle against it); the bundle's source check."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "CUDA_VISIBLE_DEVICES": ""}
    args = [
        str(refs_python()),
        "-m",
        "edgeloop",
        "import",
        str(model),
        "--weights",
        str(weights),
        "--out",
        str(out),
    ]
    result = subprocess.run([*args, *extra], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    check = (load_bundle(out).manifest.provenance.model_extra or {})["source_check"]
    assert isinstance(check, dict)
    return check


@pytest.fixture(scope="module")
def ssd_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return mobilenet_ssd(tmp_path_factory.mktemp("ssd"), num_classes=4, seed=0)


@pytest.fixture(scope="module")
def ssd_bundle(ssd_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ssd-bundle") / "bundle"
    check = import_in_refs(*ssd_files, out, "--names", NAMES)
    return out, check


def test_ssd_import_is_checked_against_opencv(ssd_bundle: tuple[Path, dict]) -> None:
    bundle_dir, check = ssd_bundle
    assert check["checked"] is True and str(check["reference"]).startswith("opencv-dnn 4.")
    assert float(check["max_abs_diff"]) <= 1e-4  # type: ignore[arg-type]
    manifest = load_bundle(bundle_dir).manifest
    assert manifest.family == "ssd" and manifest.names == NAMES.split(",")
    assert (
        manifest.conf == 0.25
        and manifest.iou == 0.45
        and manifest.input.resize == "stretch"
        and manifest.input.color == "BGR"
    )
    head = manifest.head or {}
    assert head["num_classes"] == 4 and head["code_type"] == "CENTER_SIZE" and len(head["priors"]) == 6
    assert [p["feature_hw"] for p in head["priors"]] == [[19, 19], [10, 10], [5, 5], [3, 3], [2, 2], [1, 1]]


def test_ssd_detections_match_opencv(
    ssd_files: tuple[Path, Path], ssd_bundle: tuple[Path, dict], tmp_path: Path
) -> None:
    """OpenCV's PriorBox + DetectionOutput against edgeloop's ssd decoder, image by image."""
    images = write_images(tmp_path, 4, seed=1)
    theirs = opencv_ssd(*ssd_files, images)
    ours = edgeloop_ssd(ssd_bundle[0], images)
    parity = compare(ours, theirs)
    assert parity.total >= 80, f"too few reference boxes to judge: {parity}"
    assert parity.fraction >= 0.99, parity
    assert abs(parity.ours - parity.total) <= 0.01 * parity.total, parity
    assert parity.worst_conf_diff <= 0.01


def test_classifier_matches_opencv(tmp_path: Path) -> None:
    prototxt, weights = classifier(tmp_path / "model", num_classes=5, seed=3, size=64)
    check = import_in_refs(prototxt, weights, tmp_path / "bundle")
    assert check["checked"] is True and float(check["max_abs_diff"]) <= 1e-4  # type: ignore[arg-type]
    images = write_images(tmp_path / "images", 3, seed=2)
    script = """
import sys, json, cv2, numpy as np
net = cv2.dnn.readNetFromCaffe(sys.argv[1], sys.argv[2])
out = []
for path in sys.argv[3:]:
    blob = cv2.dnn.blobFromImage(cv2.imread(path), 0.007843, (64, 64), (127.5,) * 3, swapRB=False)
    net.setInput(blob)
    out.append(net.forward().reshape(-1).tolist())
print(json.dumps(out))
"""
    theirs = np.asarray(
        json.loads(run_refs(script, str(prototxt), str(weights), *map(str, images))), np.float32
    )
    with Predictor(tmp_path / "bundle") as predictor:
        ours = np.stack(
            [predictor.infer(predictor.prepare(predictor.load_image(p)).tensor)[0][0] for p in images]
        )
    assert ours.shape == theirs.shape == (3, 5)
    assert float(np.abs(ours - theirs).max()) <= 1e-4
    assert float(theirs.max()) >= 0.3  # far from a flat 0.2: the comparison means something


def test_import_without_a_caffe_reader_records_unchecked(tmp_path: Path) -> None:
    """The main environment's OpenCV (5.x) has no Caffe reader: the bundle is written, marked unchecked."""
    prototxt, weights = classifier(tmp_path / "model")
    bundle = convert_model(prototxt, tmp_path / "bundle", ConvertOptions(weights=weights))
    check = (bundle.manifest.provenance.model_extra or {})["source_check"]
    try:
        import cv2

        has_reader = hasattr(cv2, "dnn") and hasattr(cv2.dnn, "readNetFromCaffe")
    except ImportError:
        has_reader = False
    assert check["checked"] is has_reader
    assert bundle.manifest.family == "classify" and len(bundle.manifest.names) == 5


def test_wrong_name_count_is_refused(ssd_files: tuple[Path, Path], tmp_path: Path) -> None:
    from edgeloop.errors import ModelImportError

    with pytest.raises(ModelImportError, match="--names gives 2 names but the DetectionOutput layer has 3"):
        convert_model(ssd_files[0], tmp_path / "b", ConvertOptions(weights=ssd_files[1], names=["a", "b"]))


def test_missing_weights_flag_says_what_to_pass(ssd_files: tuple[Path, Path], tmp_path: Path) -> None:
    from edgeloop.errors import ModelImportError

    with pytest.raises(ModelImportError, match="pass --weights"):
        convert_model(ssd_files[0], tmp_path / "b", ConvertOptions())


def test_ssd_prior_box_options_match_opencv(tmp_path: Path) -> None:
    """Explicit step, clip, offset 0.4, no flip, 6 classes, a narrower trunk."""
    prototxt, weights = mobilenet_ssd(tmp_path / "m", num_classes=6, seed=1, width=0.5, variant=True)
    check = import_in_refs(prototxt, weights, tmp_path / "b", "--names", "a,b,c,d,e")
    assert check["checked"] is True
    head = load_bundle(tmp_path / "b").manifest.head or {}
    assert head["priors"][0]["step_hw"] == [16.0, 16.0] and head["priors"][0]["clip"] is True
    images = write_images(tmp_path / "images", 3, seed=3)
    parity = compare(edgeloop_ssd(tmp_path / "b", images), opencv_ssd(prototxt, weights, images))
    assert parity.total >= 60 and parity.fraction >= 0.99, parity
