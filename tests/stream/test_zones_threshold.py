"""Zones with detections under the tracker's activation threshold: a zones option, and a warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edgeloop.bundle import Bundle
from edgeloop.importer import import_onnx
from edgeloop.testing.onnx_models import colour_detector
from tests.conftest import run_cli
from tests.stream.conftest import Mover, scene_frames, write_h264

CONFIDENCE = 0.47
ZONES = """
zones: [{name: right, polygon: [[320, 0], [640, 0], [640, 640], [320, 640]]}]
lines: [{name: mid, start: [320, 0], end: [320, 640]}]
"""


def dim_detector(folder: Path, confidence: float) -> Bundle:
    """The colour detector with every score scaled to ``confidence`` (its scores are ~1 on pure colour)."""
    model = onnx.load(str(colour_detector(folder / "colour.onnx")))
    graph = model.graph
    (last,) = [n for n in graph.node if "output0" in n.output]
    last.output[0] = "unscaled"
    scale = np.array([1, 1, 1, 1] + [confidence] * 3, np.float32).reshape(1, 7, 1)
    graph.initializer.append(numpy_helper.from_array(scale, "score_scale"))
    graph.node.append(helper.make_node("Mul", ["unscaled", "score_scale"], ["output0"]))
    onnx.save(model, str(folder / "dim.onnx"))
    return import_onnx(folder / "dim.onnx", folder / "dim-bundle")


@pytest.fixture(scope="module")
def dim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Path]:
    """A bundle whose detections score 0.47, and a 60-frame video of a red square crossing x = 320."""
    folder = tmp_path_factory.mktemp("dim")
    red = Mover((0, 0, 255), 64, [(0, 64, 288), (59, 512, 288)])
    video = write_h264(folder / "cross.mp4", scene_frames([red], 60, (640, 640)), (640, 640))
    return dim_detector(folder, CONFIDENCE), video


def run_zones(bundle: Bundle, video: Path, zones_yaml: str, tmp_path: Path) -> tuple[str, list[dict]]:
    zones = tmp_path / "zones.yaml"
    zones.write_text(zones_yaml)
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "run", str(bundle.root), "--source", str(video), "--zones", str(zones), "--sink", f"jsonl:{out}"
    )
    assert result.returncode == 0, result.stderr
    return result.stderr, [json.loads(line) for line in out.read_text().splitlines()]


def test_detections_under_the_threshold_warn_once(dim: tuple[Bundle, Path], tmp_path: Path) -> None:
    bundle, video = dim
    stderr, records = run_zones(bundle, video, ZONES, tmp_path)
    scores = {round(p["confidence"], 2) for r in records if "frame" in r for p in r["predictions"]}
    assert scores == {CONFIDENCE}
    assert "cam0 line mid: in 0, out 0" in stderr and "cam0 zone right: 0 entries" in stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: cam0: 30 detections in 30 frames but no track started, so zones and lines count "
        "nothing: the highest confidence (0.47) is below the tracker's activation_threshold (0.5); "
        "lower it in the zones file (tracker: {activation_threshold: 0.4})"
    ]
    (event,) = [r for r in records if r.get("event") == "warning"]
    assert event["reason"] == "no_tracks" and event["message"] == warnings[0].removeprefix("warning: ")


def test_activation_threshold_from_the_zones_file_counts(dim: tuple[Bundle, Path], tmp_path: Path) -> None:
    bundle, video = dim
    stderr, records = run_zones(bundle, video, ZONES + "tracker: {activation_threshold: 0.4}\n", tmp_path)
    assert "warning:" not in stderr
    assert "cam0 line mid: in 0, out 1" in stderr and "cam0 zone right: 1 entries, 1 inside now" in stderr
    assert not [r for r in records if r.get("event") == "warning"]
