"""YOLOv3, YOLOv4 and YOLOv7-tiny (published layer structures, full filter counts, small input):
``edgeloop import`` in the reference environment converts them and checks the raw head maps
against OpenCV DNN 4.14's own Darknet reader on its golden samples (tolerance 1e-3).

Each model is 6 to 64 million random weights, so this file takes a few tens of seconds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from edgeloop.bundle import load_bundle
from edgeloop.convert.darknet.cfg import parse_cfg
from edgeloop.convert.darknet.layers import build_network
from edgeloop.testing.darknet_models import random_weights, yolov3_tiny_cfg, yolov4_tiny_cfg
from edgeloop.testing.darknet_zoo import yolov3_cfg, yolov4_cfg, yolov7_tiny_cfg
from edgeloop.testing.refs import refs_python

SRC = Path(__file__).resolve().parents[2] / "src"
SIZE = 96
MODELS = {
    # name: (cfg maker, heads' (scale_x_y, new_coords))
    "yolov3": (yolov3_cfg, [(1.0, False)] * 3),
    "yolov4": (yolov4_cfg, [(1.2, False), (1.1, False), (1.05, False)]),
    "yolov7-tiny": (yolov7_tiny_cfg, [(2.0, True)] * 3),
}
# The published 80-class .weights files: (layers, bytes). Their size is 20 header bytes plus
# 4 per float, so a cfg whose float count fits them has the published layer structure.
PUBLISHED = {
    "yolov3-tiny": (yolov3_tiny_cfg, 24, 35_434_956),
    "yolov4-tiny": (yolov4_tiny_cfg, 38, 24_251_276),
    "yolov3": (yolov3_cfg, 107, 248_007_048),
    "yolov4": (yolov4_cfg, 162, 257_717_640),
    "yolov7-tiny": (yolov7_tiny_cfg, 99, 24_967_560),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_cfgs_have_the_published_structure(name: str) -> None:
    make, layers, size = PUBLISHED[name]
    network = build_network(parse_cfg(make(416, 80)))
    assert len(network.layers) == layers
    assert 20 + 4 * network.param_count() == size


@pytest.mark.parametrize("name", list(MODELS))
def test_import_matches_opencv_darknet(name: str, tmp_path: Path) -> None:
    make, heads = MODELS[name]
    text = make(SIZE, 3)
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_text(text, encoding="utf-8")
    weights = random_weights(text, tmp_path / f"{name}.weights", seed=5)
    out = tmp_path / "bundle"
    args = [str(cfg), "--weights", str(weights), "--names", "a,b,c", "--out", str(out)]
    done = subprocess.run(
        [str(refs_python()), "-m", "edgeloop", "import", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "300", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"checked against opencv-dnn 4\.\d+", done.stderr), done.stderr
    manifest = load_bundle(out).manifest
    check = (manifest.provenance.model_extra or {})["source_check"]
    assert check["checked"] is True and check["samples"] == 3
    assert check["max_abs_diff"] < 1e-3
    assert manifest.head is not None
    assert [(h["scale_x_y"], h["new_coords"]) for h in manifest.head["layers"]] == heads
