"""The video sink shows zones, lines and live counts: checked in the pixels of the written mp4."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.predictor import Predictor
from edgeloop.stream.pipeline import Pipeline
from edgeloop.stream.sinks.video import VideoSink
from edgeloop.stream.sources import VideoFileSource
from edgeloop.stream.zones import ZonesConfig
from tests.stream.conftest import GREY

# The clip's red square runs along y 176..240 from x 0 to 640: it crosses the line at x = 200
# around frame 29 and enters the zone (x > 320) around frame 50.
ZONES = ZonesConfig.model_validate(
    {
        "zones": [{"name": "right", "polygon": [[320, 100], [640, 100], [640, 300], [320, 300]]}],
        "lines": [{"name": "door", "start": [200, 120], "end": [200, 320]}],
    }
)
PANEL = (slice(0, 40), slice(0, 150))  # rows, columns of the counts panel (top left)


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image.astype(np.int16))
    capture.release()
    return frames


def annotated(bundle: Bundle, clip: Path, out: Path, zones: ZonesConfig | None) -> list[np.ndarray]:
    with Predictor(bundle) as predictor, VideoSink(out, {"cam0": 25.0}) as sink:
        summary = Pipeline(predictor, [VideoFileSource(clip, "cam0")], [sink], zones).run()
    assert summary.error is None
    return frames_of(out)


@pytest.fixture(scope="module")
def videos(
    yolo_bundle: Bundle, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("overlay")
    plain = annotated(yolo_bundle, clip, folder / "plain.mp4", None)
    zoned = annotated(yolo_bundle, clip, folder / "zoned.mp4", ZONES)
    assert len(plain) == len(zoned) == 100
    return plain, zoned


def changed(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels whose colour differs by more than 40 in some channel."""
    return float((np.abs(a - b).max(axis=-1) > 40).mean())


def test_lines_and_zone_edges_are_drawn(videos: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    plain, zoned = videos
    for i in (10, 90):
        line = (slice(260, 320), slice(199, 202))  # the lower part of the line, clear of the square
        edge = (slice(299, 302), slice(420, 600))  # the zone's bottom edge
        assert changed(plain[i][line], zoned[i][line]) > 0.9
        assert changed(plain[i][edge], zoned[i][edge]) > 0.9
        assert np.abs(plain[i][line] - GREY).max() < 20, "without zones nothing is drawn there"
        assert np.abs(plain[i][edge] - GREY).max() < 20


def test_live_counts_panel(videos: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    plain, zoned = videos
    for i in (10, 90):
        assert np.abs(plain[i][PANEL] - GREY).max() < 20, "no panel without zones"
        assert changed(plain[i][PANEL], zoned[i][PANEL]) > 0.5, "the panel covers the corner"
        assert (zoned[i][PANEL].min(axis=-1) > 180).mean() > 0.02, "with white text on it"
    # frame 10: nothing counted yet; frame 90: the square crossed the line and is inside the zone
    assert changed(zoned[10][PANEL], zoned[90][PANEL]) > 0.01, "the counts change as they happen"
    assert changed(plain[10][PANEL], plain[90][PANEL]) == 0
