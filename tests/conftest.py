"""Shared fixtures: synthetic models, bundles and images made on the spot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle, load_bundle
from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import colour_detector

RED_BGR = (0, 0, 255)
GREEN_BGR = (0, 255, 0)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _bundle(models_dir: Path, family: str) -> Bundle:
    if (models_dir / f"bundle-{family}").exists():
        return load_bundle(models_dir / f"bundle-{family}")
    model = colour_detector(models_dir / f"colour-{family}.onnx", imgsz=(640, 640), stride=32, family=family)
    return import_onnx(model, models_dir / f"bundle-{family}")


@pytest.fixture(scope="session")
def yolo_bundle(models_dir: Path) -> Bundle:
    return _bundle(models_dir, "yolo")


@pytest.fixture(scope="session", params=["yolo", "yolov5", "yolo-e2e"])
def detector_bundle(request: pytest.FixtureRequest, models_dir: Path) -> Bundle:
    return _bundle(models_dir, request.param)


@pytest.fixture(scope="session")
def classify_bundle(models_dir: Path) -> Bundle:
    return _bundle(models_dir, "classify")


def scene_640x480() -> np.ndarray:
    """Grey 640x480 BGR image: a red square at x 64..192, y 48..176 and a green one at x 352..480, y 240..336.

    Letterboxed to 640x640 the image moves down 80 px, so both squares land
    exactly on the colour detector's 32 px cells.
    """
    image = np.full((480, 640, 3), 128, np.uint8)
    image[48:176, 64:192] = RED_BGR
    image[240:336, 352:480] = GREEN_BGR
    return image


@pytest.fixture()
def scene_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"  # lossless, so cell colours stay pure
    cv2.imwrite(str(path), scene_640x480())
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `edgeloop` command in a subprocess."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "edgeloop.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )
