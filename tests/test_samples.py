import json
import shutil
from pathlib import Path

import cv2

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.predictor import Predictor
from edgeloop.samples import add_samples, check_samples, compare
from tests.conftest import run_cli, scene_640x480


def test_add_then_check_samples(yolo_bundle: Bundle, tmp_path: Path) -> None:
    root = tmp_path / "b"
    shutil.copytree(yolo_bundle.root, root)
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), scene_640x480())
    bundle = load_bundle(root)
    with Predictor(bundle) as predictor:
        updated = add_samples(bundle, [image], predictor)
    assert updated.manifest.samples[0].file == "samples/scene.png"
    assert len(updated.manifest.samples[0].expected["predictions"]) == 2
    with Predictor(load_bundle(root)) as predictor:  # sha256 of the sample verified on load
        checks = check_samples(predictor)
    assert [c.ok for c in checks] == [True]


def test_check_catches_a_wrong_result(yolo_bundle: Bundle, tmp_path: Path) -> None:
    root = tmp_path / "b"
    shutil.copytree(yolo_bundle.root, root)
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), scene_640x480())
    assert run_cli("bundle", "add-sample", str(root), str(image)).returncode == 0
    assert run_cli("bundle", "check", str(root)).returncode == 0
    # A bundle whose preprocessing says BGR now sees red as blue: the check must fail.
    manifest = json.loads((root / "bundle.json").read_text())
    manifest["input"]["color"] = "BGR"
    (root / "bundle.json").write_text(json.dumps(manifest))
    result = run_cli("bundle", "check", str(root))
    assert result.returncode == 1
    assert "FAIL samples/scene.png" in result.stderr and "1 of 1 golden samples differ" in result.stderr


def test_compare_tolerances() -> None:
    def rec(x: float, conf: float, cls: int = 0) -> dict:
        return {
            "predictions": [{"x": x, "y": 50, "width": 20, "height": 20, "confidence": conf, "class_id": cls}]
        }

    assert compare(rec(50, 0.9), rec(50.5, 0.93)) is None
    assert "box differs" in (compare(rec(50, 0.9), rec(60, 0.9)) or "")
    assert "box differs" in (compare(rec(50, 0.9), rec(50, 0.8)) or "")
    assert "class 0" in (compare(rec(50, 0.9), rec(50, 0.9, cls=1)) or "")
    assert "detections" in (compare(rec(50, 0.9), {"predictions": []}) or "")
    top = {"top": "a", "confidence": 0.9}
    assert compare(top, {"top": "a", "confidence": 0.88}) is None
    assert compare(top, {"top": "b", "confidence": 0.9}) is not None


def test_no_samples_is_not_an_error(yolo_bundle: Bundle) -> None:
    result = run_cli("bundle", "check", str(yolo_bundle.root))
    assert result.returncode == 0 and "no golden samples" in result.stderr
