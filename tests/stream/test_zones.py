"""Zones and lines on a generated video with known paths: counts match the ground truth exactly."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from edgeloop.backends import OnnxRuntimeConfig
from edgeloop.bundle import Bundle
from edgeloop.errors import ConfigError
from edgeloop.predictor import Predictor
from edgeloop.stream.pipeline import Pipeline
from edgeloop.stream.sinks.jsonl import JsonlSink
from edgeloop.stream.sources import VideoFileSource
from edgeloop.stream.zones import ZonesConfig, inside_polygon, load_zones
from tests.stream.conftest import Mover, scene_frames, write_h264

FPS = 25
ZONES_YAML = """
anchor: center
zones:
  - name: dock
    polygon: [[200, 280], [440, 280], [440, 440], [200, 440]]
lines:
  - name: gate          # vertical, drawn downwards: moving left is "in"
    start: [320, 0]
    end: [320, 200]
  - name: belt          # horizontal, drawn left to right: moving down is "in"
    start: [400, 240]
    end: [640, 240]
    classes: [green]
"""

MOVERS = [
    Mover((0, 0, 255), 64, [(0, 0, 0), (119, 576, 0)]),  # red: right across gate -> out
    Mover((0, 0, 255), 64, [(0, 576, 128), (119, 0, 128)]),  # red: left across gate -> in
    Mover((0, 255, 0), 64, [(20, 576, 96), (60, 576, 400), (119, 576, 160)]),  # green: down, up the belt
    # blue: passes below the gate's end (no count), through the dock (one entry, one exit)
    Mover((255, 0, 0), 64, [(0, 0, 320), (119, 576, 320)]),
]


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zones") / "scene.mp4"
    return write_h264(out, scene_frames(MOVERS, 120, (640, 640)), (640, 640), FPS)


@pytest.mark.parametrize("workers", [1, 3])
def test_counts_match_ground_truth(
    yolo_bundle: Bundle, scene_video: Path, tmp_path: Path, workers: int
) -> None:
    """Exact counts; with several inference workers too (tracking needs frames back in order)."""
    zones_file = tmp_path / "zones.yaml"
    zones_file.write_text(ZONES_YAML)
    out = tmp_path / "out.jsonl"
    config = OnnxRuntimeConfig(intra_op_threads=1)
    with Predictor(yolo_bundle, config) as predictor, JsonlSink(out) as sink:
        pipeline = Pipeline(
            predictor, [VideoFileSource(scene_video, "cam0")], [sink], load_zones(zones_file), workers=workers
        )
        summary = pipeline.run()
    assert summary.error is None
    assert summary.frames == 120
    counts = summary.counts["cam0"]
    assert counts["lines"] == {"gate": {"in": 1, "out": 1}, "belt": {"in": 1, "out": 1}}
    assert counts["zones"] == {"dock": {"entries": 1, "occupancy": 0}}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    events = [r for r in records if "event" in r]
    crossings = sorted((e["line"], e["direction"], e["class"]) for e in events if e["event"] == "line_cross")
    assert crossings == [
        ("belt", "in", "green"),
        ("belt", "out", "green"),
        ("gate", "in", "red"),
        ("gate", "out", "red"),
    ]
    (enter,) = [e for e in events if e["event"] == "zone_enter"]
    (exit_,) = [e for e in events if e["event"] == "zone_exit"]
    assert enter["class"] == exit_["class"] == "blue" and enter["tracker_id"] == exit_["tracker_id"]
    blue = MOVERS[3]
    inside = [f for f in range(120) if 200 < blue.at(f)[0] + 32 < 440]  # type: ignore[index]
    assert exit_["dwell_s"] == pytest.approx((inside[-1] + 1 - inside[0]) / FPS, abs=1e-3)
    frames = [r for r in records if "frame" in r]
    assert [r["frame"] for r in frames] == list(range(120)), "frames reach the sinks in order"
    ids = {p["tracker_id"] for r in frames for p in r["predictions"]}
    # The tracker library numbers tracks process-wide, so a second run in this process starts past 3.
    assert len(ids - {-1}) == 4, "one track per moving square (-1: first sighting)"


def test_zone_config_errors_say_what_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "zones.yaml"
    bad.write_text("zones:\n  - name: a\n    polygon: [[0, 0], [1, 1]]\n")
    with pytest.raises(ConfigError, match=r"key 'zones\[0\]\.polygon': needs at least 3 items"):
        load_zones(bad)
    bad.write_text("lines: [{name: x, start: [0, 0], end: [1, 1], colour: red}]")
    with pytest.raises(ConfigError, match="colour"):
        load_zones(bad)
    bad.write_text("zones: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_zones(bad)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_zones(tmp_path / "missing.yaml")


def test_inside_polygon() -> None:
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    import numpy as np

    assert inside_polygon(square, np.array([5.0, 5.0]))
    assert not inside_polygon(square, np.array([15.0, 5.0]))
    assert ZonesConfig().zones == []
    assert threading.active_count() >= 1
