"""Synthetic domains: DOMAIN_A keeps today's pixels, DOMAIN_B is a real shift with the same classes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from edgeloop.data.formats import load_dataset
from edgeloop.data.synth import DOMAIN_A, DOMAIN_B, SHAPES, Domain, synth_detection

cv2 = pytest.importorskip("cv2")

# sha256 over (relative path, decoded pixels or file bytes) of synth_detection(out, 6, 96, seed=5)
# as written before domains existed.
BEFORE_DOMAINS = "582593099c512110b65416ad624fffad1067b098577b556310ef977041f83818"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            if path.suffix == ".png":
                h.update(cv2.imread(str(path), cv2.IMREAD_UNCHANGED).tobytes())
            else:
                h.update(path.read_bytes())
    return h.hexdigest()


def test_domain_a_keeps_the_pixels_and_labels_of_before(tmp_path: Path) -> None:
    synth_detection(tmp_path / "default", 6, 96, seed=5)
    synth_detection(tmp_path / "a", 6, 96, seed=5, domain=DOMAIN_A)
    assert _digest(tmp_path / "default") == BEFORE_DOMAINS
    assert _digest(tmp_path / "a") == BEFORE_DOMAINS
    assert Domain() == DOMAIN_A


def _stats(root: Path) -> tuple[float, float, float]:
    """Mean brightness, mean pixel spread, mean box side as a share of the image."""
    ds = load_dataset(root)
    images = [cv2.imread(str(item.image)).astype(np.float32) for item in ds.items]
    sides = np.concatenate(
        [(i.detections.xyxy[:, 2:] - i.detections.xyxy[:, :2]).ravel() for i in ds.items if i.detections]
    )
    return (
        float(np.mean([i.mean() for i in images])),
        float(np.mean([i.std() for i in images])),
        float(sides.mean()) / 96,
    )


def test_domain_b_is_a_shift_with_the_same_classes(tmp_path: Path) -> None:
    a = synth_detection(tmp_path / "a", 12, 96, seed=2)
    b = synth_detection(tmp_path / "b", 12, 96, seed=2, domain=DOMAIN_B)
    assert a.names == b.names == SHAPES
    again = synth_detection(tmp_path / "b2", 12, 96, seed=2, domain=DOMAIN_B)
    assert _digest(tmp_path / "b") == _digest(tmp_path / "b2")
    assert load_dataset(tmp_path / "b").same_as(again)
    bright_a, _, side_a = _stats(tmp_path / "a")
    bright_b, _, side_b = _stats(tmp_path / "b")
    assert bright_b < bright_a - 10  # darker scenes
    assert side_b < side_a * 0.75  # smaller objects
    for item in b.items:
        assert item.detections is not None and len(item.detections) >= 1
        xyxy = item.detections.xyxy
        assert (xyxy >= 0).all() and (xyxy <= 96).all() and (xyxy[:, 2:] > xyxy[:, :2]).all()
