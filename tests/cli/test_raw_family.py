"""`edgeloop import --family raw` and `edgeloop predict` on a bundle with no decoder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edgeloop.testing.family_models import text_detector
from tests.conftest import run_cli


def test_import_asks_for_family_raw_then_predict_says_no_decoder(tmp_path: Path) -> None:
    model = text_detector(tmp_path / "ocr-det.onnx")
    guessed = run_cli("import", str(model), "--out", str(tmp_path / "b"))
    assert guessed.returncode == 1
    assert "no output family edgeloop decodes fits" in guessed.stderr and "--family raw" in guessed.stderr
    assert "Traceback" not in guessed.stderr

    imported = run_cli("import", str(model), "--out", str(tmp_path / "b"), "--family", "raw")
    assert imported.returncode == 0, imported.stderr
    assert "family raw (no decoder)" in imported.stderr and "/v2/models/ocr-det/infer" in imported.stderr

    image = tmp_path / "page.png"
    cv2.imwrite(str(image), np.full((64, 96, 3), 255, np.uint8))
    predicted = run_cli("predict", str(tmp_path / "b"), str(image), str(image))
    assert predicted.returncode == 1
    assert predicted.stderr.count("no decoder") == 1  # said once, not once per image
    assert "/v2/models/ocr-det/infer" in predicted.stderr and "Predictor.infer" in predicted.stderr
    assert "Traceback" not in predicted.stderr


def test_bench_times_a_raw_bundle_up_to_inference(tmp_path: Path) -> None:
    model = text_detector(tmp_path / "ocr-det.onnx")
    imported = run_cli("import", str(model), "--out", str(tmp_path / "b"), "--family", "raw", "--imgsz", "64")
    assert imported.returncode == 0, imported.stderr
    benched = run_cli("bench", str(tmp_path / "b"), "--runs", "3", "--warmup", "1", "--json")
    assert benched.returncode == 0, benched.stderr
    stages = json.loads(benched.stdout)["results"][0]["stages"]
    assert stages["infer"]["p50_ms"] > 0 and stages["postprocess"]["p50_ms"] == 0
