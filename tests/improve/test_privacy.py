"""Privacy happens before storage: blurred boxes are unrecoverable, dropped frames never touch the disk."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeloop.bundle import Bundle
from edgeloop.imaging import decode_image, encode_jpeg
from edgeloop.improve import Capture, Spool, policy_from_dict
from edgeloop.predictor import Predictor
from edgeloop.types import Detections
from tests.conftest import scene_640x480

FLAG_ALL = {"type": "flagged", "min_score": 0.0}


def stored_images(spool: Spool) -> list[np.ndarray]:
    return [decode_image(spool.path(s.sha256).read_bytes()) for s in spool.samples()]


def detect(predictor: Predictor, image: np.ndarray) -> Detections:
    result = predictor.predict(image)
    assert isinstance(result, Detections)
    return result


def boxes_named(dets: Detections, name: str) -> np.ndarray:
    return dets.xyxy[[dets.class_name(c) == name for c in dets.class_id.tolist()]]


def test_blurred_boxes_are_unrecoverable(yolo_bundle: Bundle, tmp_path: Path) -> None:
    scene = scene_640x480()
    policy = policy_from_dict(
        {"samplers": [FLAG_ALL], "privacy": {"blur_classes": ["red"]}, "image": {"jpeg_quality": 95}}
    )
    with Predictor(yolo_bundle) as predictor:
        before = detect(predictor, scene)
        (red,) = boxes_named(before, "red").round().astype(int).tolist()
        with Capture(policy, Spool(tmp_path)) as capture:
            assert capture.offer(scene, before).kept
            (stored,) = stored_images(capture.spool)
        x1, y1, x2, y2 = red
        difference = np.abs(stored[y1:y2, x1:x2].astype(int) - scene[y1:y2, x1:x2].astype(int)).max(axis=2)
        assert difference.min() > 40  # every stored pixel of the box is far from the original
        after = detect(predictor, stored)
    assert len(boxes_named(after, "red")) == 0  # the model no longer finds anything there
    assert len(boxes_named(after, "green")) == 1  # ...while the rest of the frame is intact


def test_blurring_twice_gives_different_pixels(tmp_path: Path) -> None:
    """The noise is fresh each time (not seeded): the obscured pixels cannot be regenerated."""
    from edgeloop.improve.privacy import obscure_boxes

    scene = scene_640x480()
    boxes = np.array([[64, 48, 192, 176]])
    first, second = obscure_boxes(scene, boxes), obscure_boxes(scene, boxes)
    assert not np.array_equal(first[48:176, 64:192], second[48:176, 64:192])
    assert np.array_equal(first[200:], scene[200:])  # outside the box nothing changes


class OpenAudit:
    """Records every file path opened while ``recording`` (Python's audit hook for open)."""

    def __init__(self) -> None:
        self.recording = False
        self.paths: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if self.recording and event == "open" and isinstance(args[0], (str, bytes, Path)):
            self.paths.append(str(args[0]))


def test_dropped_class_frames_never_reach_the_disk(tmp_path: Path) -> None:
    audit = OpenAudit()
    rng = np.random.default_rng(0)
    policy = policy_from_dict({"samplers": [FLAG_ALL], "privacy": {"drop_classes": ["person"]}})
    names = ("car", "person")
    dropped_jpegs: list[bytes] = []
    spool_dir = tmp_path / "spool"
    with Capture(policy, Spool(spool_dir)) as capture:
        for i in range(60):
            image = rng.integers(0, 256, (40, 40, 3), np.uint8)
            with_person = i % 3 == 0
            dets = Detections(
                np.array([[1, 1, 20, 20], [5, 5, 30, 30]], np.float32),
                np.array([0.9, 0.6 if with_person else 0.05], np.float32),  # a faint person is not a person
                np.array([0, 1], np.int32),
                names,
            )
            audit.recording, audit.paths = True, []
            decision = capture.offer(image, dets)
            audit.recording = False
            if with_person:
                assert decision.reason == "privacy_drop" and not decision.kept
                assert not [p for p in audit.paths if str(spool_dir) in p], audit.paths
                dropped_jpegs.append(encode_jpeg(image, policy.image.jpeg_quality))
            else:
                assert decision.kept
        counters = capture.spool.counters()
        held = capture.spool.samples()
    assert counters["dropped:privacy_drop"] == 20 and counters["kept"] == 40
    assert all(
        p["class"] != "person" or p["confidence"] < 0.1
        for s in held
        for p in s.record.predictions["predictions"]
    )
    everything = b"".join(p.read_bytes() for p in spool_dir.rglob("*") if p.is_file())
    assert not list((spool_dir / "tmp").iterdir())
    for jpeg in dropped_jpegs:  # not the image, not a piece of its compressed data
        assert jpeg[-600:-2] not in everything


def test_crops_only_blacks_out_everything_else(tmp_path: Path) -> None:
    scene = scene_640x480()
    dets = Detections(
        np.array([[352, 240, 480, 336]], np.float32), np.array([0.9]), np.array([1]), ("r", "g")
    )
    policy = policy_from_dict(
        {
            "samplers": [FLAG_ALL],
            "privacy": {"crops_only": True, "margin": 0.0},
            "image": {"jpeg_quality": 95},
        }
    )
    with Capture(policy, Spool(tmp_path)) as capture:
        assert capture.offer(scene, dets).kept
        assert capture.offer(scene, Detections.empty(("r", "g"))).reason == "no_crops"
        (stored,) = stored_images(capture.spool)
    outside = np.ones(stored.shape[:2], bool)
    outside[232:344, 344:488] = False  # the box plus a JPEG block of slack
    assert stored[outside].max() < 12  # black, up to JPEG ringing next to the box
    assert np.abs(stored[250:326, 362:470].astype(int) - scene[250:326, 362:470]).max() < 12


def test_no_exif_and_size_cap(tmp_path: Path) -> None:
    scene = scene_640x480()
    dets = Detections(np.array([[64, 48, 192, 176]], np.float32), np.array([0.9]), np.array([0]), ("red",))
    policy = policy_from_dict({"samplers": [FLAG_ALL], "image": {"max_size": 320}})
    with Capture(policy, Spool(tmp_path)) as capture:
        capture.offer(scene, dets)
        (sample,) = capture.spool.samples()
        data = capture.spool.path(sample.sha256).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (320, 240) and not image.getexif() and "exif" not in image.info
    markers = [data[i + 1] for i in range(len(data) - 1) if data[i] == 0xFF and 0xE1 <= data[i + 1] <= 0xEF]
    assert 0xE1 not in markers  # no APP1 (EXIF/XMP) segment at all
    (prediction,) = sample.record.predictions["predictions"]
    assert sample.record.predictions["image"] == {"width": 320, "height": 240}
    assert (prediction["x"], prediction["y"], prediction["width"]) == pytest.approx((64.0, 56.0, 64.0))
