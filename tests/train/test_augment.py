"""Augmentations move boxes exactly with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.train.augment import AugmentConfig, Sample, augment, flip_lr, mosaic, random_affine


def _white_box_sample(size: int = 120) -> Sample:
    image = np.zeros((size, size + 40, 3), np.uint8)
    image[30:70, 50:110] = 255
    return Sample(image, np.array([[50, 30, 110, 70]], np.float32), np.array([1], np.int64))


def _pixel_box(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image.max(2) > 200)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def test_flip_mirrors_the_box() -> None:
    flipped = flip_lr(_white_box_sample())
    np.testing.assert_allclose(flipped.xyxy[0], _pixel_box(flipped.image))


@pytest.mark.parametrize("seed", range(5))
def test_affine_keeps_boxes_on_their_pixels(seed: int) -> None:
    cfg = AugmentConfig(scale=0.3, translate=0.05)
    out = random_affine(_white_box_sample(), 128, cfg, np.random.default_rng(seed))
    assert out.image.shape == (128, 128, 3)
    assert len(out.xyxy) == 1
    np.testing.assert_allclose(out.xyxy[0], _pixel_box(out.image), atol=1.5)


def test_mosaic_keeps_every_box_on_its_pixels() -> None:
    rng = np.random.default_rng(0)
    out = mosaic([_white_box_sample()] * 4, 128, rng)
    assert out.image.shape == (256, 256, 3)
    for box in out.xyxy:
        x1, y1, x2, y2 = box.round().astype(int)
        assert out.image[y1:y2, x1:x2].min() >= 200, "every kept box covers white pixels only"
    assert ((out.xyxy >= 0) & (out.xyxy <= 256)).all()


def test_augment_is_deterministic_per_seed() -> None:
    pick = [_white_box_sample()] * 4
    a = augment(pick, 96, AugmentConfig(), np.random.default_rng(3), use_mosaic=True)
    b = augment(pick, 96, AugmentConfig(), np.random.default_rng(3), use_mosaic=True)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.xyxy, b.xyxy)
