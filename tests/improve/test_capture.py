"""The Capture API end to end: what is stored with a sample, model-free capture, bad frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.errors import ImageError
from edgeloop.improve import Capture, ModelRef, Spool, policy_from_dict
from edgeloop.predictor import Predictor
from edgeloop.testing.capture_budget import FakeClock
from edgeloop.types import Detections
from tests.conftest import scene_640x480


def test_sample_records_what_the_model_saw(yolo_bundle: Bundle, tmp_path: Path) -> None:
    policy = policy_from_dict(
        {"samplers": [{"type": "selected_classes", "classes": ["green"], "tags": ["greens"]}], "seed": 0}
    )
    scene = scene_640x480()
    with Predictor(yolo_bundle) as predictor:
        detections = predictor.predict(scene)
    assert isinstance(detections, Detections)
    clock = FakeClock()
    clock.now = 1.7e9
    with Capture(policy, Spool(tmp_path), "cam-7", ModelRef("colours", "2"), clock, clock) as capture:
        decision = capture.offer(scene, detections)
        assert (
            decision.kept
            and decision.sampler == "selected_classes"
            and decision.detail.startswith("contains green")
        )
        assert capture.offer(scene, detections).reason == "duplicate"
        (sample,) = capture.spool.samples()
    r = sample.record
    assert (r.device_id, r.model_name, r.model_version, r.tags, r.wall_time) == (
        "cam-7",
        "colours",
        "2",
        ("greens",),
        1.7e9,
    )
    assert r.predictions == detections.to_json((640, 480))  # the wire format, in stored pixels
    assert r.score == pytest.approx(decision.score) and r.reason == decision.detail
    assert sample.sha256 == decision.sha256


def test_model_free_capture_by_interval_and_scene_change(tmp_path: Path) -> None:
    policy = policy_from_dict(
        {"samplers": [{"type": "interval", "seconds": 60}, {"type": "scene_change", "full_change": 0.1}]}
    )
    grey, white = np.full((48, 64, 3), 100, np.uint8), np.full((48, 64, 3), 250, np.uint8)
    clock = FakeClock()
    kept = []
    with Capture(policy, Spool(tmp_path), clock=clock, wall_clock=clock) as capture:
        for t in range(0, 180, 10):
            clock.now = float(t)
            image = grey.copy() if t != 30 else white
            image[0, 0] = t  # a different file each time
            decision = capture.offer(image)
            kept += [(t, decision.sampler)] if decision.kept else []
    # first frame; the scene changes at 30 and back at 40; then once a minute by interval
    assert kept == [
        (0, "interval"),
        (30, "scene_change"),
        (40, "scene_change"),
        (100, "interval"),
        (160, "interval"),
    ]


def test_disagreement_through_capture(tmp_path: Path) -> None:
    policy = policy_from_dict({"samplers": [{"type": "disagreement", "min_score": 0.4}]})
    boxes = Detections(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.ones(2), np.zeros(2), ("a",)
    )
    image = np.full((40, 40, 3), 9, np.uint8)
    with Capture(policy, Spool(tmp_path)) as capture:
        assert capture.offer(image, boxes, second=boxes).reason == "not_selected"
        assert (
            capture.offer(image, boxes, second=boxes[:1]).detail
            == "1 of 3 boxes unmatched (first 2, second 1)"
        )
        decision = capture.offer(image, boxes, second=boxes[:0])
    assert decision.kept and decision.score == 1.0 and decision.detail.startswith("2 of 2 boxes unmatched")


@pytest.mark.parametrize("frame", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), "frame.jpg"])
def test_frames_must_be_bgr_arrays(tmp_path: Path, frame: object) -> None:
    policy = policy_from_dict({"samplers": [{"type": "random"}]})
    with (
        Capture(policy, Spool(tmp_path)) as capture,
        pytest.raises(ImageError, match=r"takes \(H, W, 3\) uint8"),
    ):
        capture.offer(frame)  # type: ignore[arg-type]


def test_capture_runs_without_torch_or_opencv(tmp_path: Path) -> None:
    """Capture is on the device path: no torch, no OpenCV."""
    from tests.blocked import run_without

    code = f"""
import numpy as np
from edgeloop.improve import Capture, Spool, policy_from_dict
from edgeloop.improve.samplers import SAMPLERS
for name in SAMPLERS.names():
    SAMPLERS.get(name)
policy = policy_from_dict({{"samplers": [{{"type": "random", "min_score": 0}}], "image": {{"max_size": 32}},
                           "privacy": {{"blur_classes": ["a"]}}}})
with Capture(policy, Spool({str(tmp_path)!r})) as capture:
    print(capture.offer(np.full((48, 64, 3), 7, np.uint8)).reason)
assert "torch" not in sys.modules and "cv2" not in sys.modules
"""
    result = run_without(("torch", "cv2"), code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kept"


def test_a_failing_disk_degrades_capture_and_it_resumes(tmp_path: Path) -> None:
    """Writes that fail (here: the images folder replaced by a file) are counted, never raised.

    Frames come 5 s apart, longer than the longest back-off, so every frame tries
    its write (test_diskfull.py covers the back-off itself).
    """
    policy = policy_from_dict({"samplers": [{"type": "flagged", "min_score": 0}], "counters_flush_s": 0})
    images = tmp_path / "images"
    reasons = []
    clock = FakeClock()
    with Capture(policy, Spool(tmp_path), clock=clock) as capture:
        for i in range(9):
            clock.now += 5
            if i == 3:
                images.rename(tmp_path / "images.away")
                images.write_bytes(b"not a folder")
            if i == 6:
                images.unlink()
                (tmp_path / "images.away").rename(images)
            reasons.append(capture.offer(np.full((16, 16, 3), i * 20, np.uint8)).reason)
        counters = capture.spool.counters()
    assert reasons == ["kept"] * 3 + ["io_error"] * 3 + ["kept"] * 3
    assert counters["dropped:io_error"] == 3 and counters["kept"] == 6 and counters["offered"] == 9
    with Spool(tmp_path) as spool:
        assert spool.integrity() == "ok" and len(spool.samples()) == 6
        assert spool.reconciled.get("orphan_files_removed", 0) == 0 and not list(spool.temp.iterdir())
        assert sorted(p.stem for p in images.iterdir()) == sorted(s.sha256 for s in spool.samples())
