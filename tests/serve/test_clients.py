"""Real third-party clients (tritonclient, inference-sdk, supervision) against a real server.

They live in .venv-clients (made by `make test`): inference-sdk depends on
opencv-python, which conflicts with edgeloop's opencv-python-headless.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import pytest

from tests.conftest import scene_640x480
from tests.serve.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"


@pytest.fixture(scope="module")
def clients(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not CLIENT_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CLIENT_PYTHON} missing: `make test` creates it")
        pytest.skip("client environment missing: run `make test` (it creates .venv-clients)")
    image = tmp_path_factory.mktemp("clients") / "scene.png"
    cv2.imwrite(str(image), scene_640x480())
    result = subprocess.run(
        [
            str(CLIENT_PYTHON),
            str(Path(__file__).parent / "clients" / "check_clients.py"),
            server.url,
            "colour-yolo",
            "colour-classify",
            str(image),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_tritonclient(clients: dict) -> None:
    t = clients["triton"]
    assert t["live"] and t["ready"] and t["model_ready"]
    assert t["metadata"]["inputs"][0] == {"name": "images", "datatype": "FP32", "shape": [1, 3, 640, 640]}
    for binary in ("False", "True"):
        run = t[f"infer_binary_{binary}"]
        assert run == {"shape": [1, 7, 400], "max_red": pytest.approx(1.0, abs=1e-3), "red_cells": 4}
    assert t["infer_default_shape"] == [1, 7, 400]


def test_inference_sdk(clients: dict) -> None:
    r = clients["roboflow"]
    assert r["sdk_image"] == {"width": 640, "height": 480}
    got = sorted(
        (p["class"], round(p["x"]), round(p["y"]), round(p["width"]), round(p["height"]))
        for p in r["sdk_predictions"]
    )
    assert got == [("green", 416, 288, 128, 96), ("red", 128, 112, 128, 128)]
    assert r["classification_top"] == "blue"


def test_supervision_parses_v1(clients: dict) -> None:
    s = clients["supervision_v1"]
    assert s["xyxy"] == [[64, 48, 192, 176], [352, 240, 480, 336]]
    assert s["class_id"] == [0, 1] and s["class_name"] == ["red", "green"]
