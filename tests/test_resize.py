"""The letterbox resize gives OpenCV's bytes without OpenCV (the C kernel and its numpy port)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgeloop import resize
from edgeloop.native import available as native_available
from edgeloop.resize import resize_linear, resize_linear_numpy

# Camera and model sizes that matter, then random ones (upscales, odd ratios, 1-pixel sides).
SIZES = [
    ((480, 640), (240, 320)),  # exact 2x: OpenCV takes the 2x2 mean
    ((720, 1280), (360, 640)),
    ((720, 1280), (180, 320)),
    ((1080, 1920), (360, 640)),
    ((1000, 1000), (640, 640)),
    ((150, 200), (480, 640)),
    ((1, 5), (3, 9)),
    ((7, 1), (2, 1)),
]
_rng = np.random.default_rng(7)
SIZES += [
    (
        (int(_rng.integers(1, 400)), int(_rng.integers(1, 400))),
        (int(_rng.integers(1, 400)), int(_rng.integers(1, 400))),
    )
    for _ in range(60)
]


def _image(shape_hw: tuple[int, int], channels: int, seed: int) -> np.ndarray:
    shape = shape_hw if channels == 1 else (*shape_hw, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_native_kernel_is_built_in_ci() -> None:
    """A failed compile falls back silently to slower paths; CI must notice it."""
    if os.environ.get("CI") == "true":
        assert native_available(), "edgeloop._native was not built: is a C compiler installed?"
    elif not native_available():
        pytest.skip("edgeloop._native not built here (no C compiler at install time)")


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_same_bytes_as_opencv(channels: int) -> None:
    cv2 = pytest.importorskip("cv2")
    if not native_available():
        pytest.skip("edgeloop._native not built")
    for i, ((h, w), (nh, nw)) in enumerate(SIZES):
        image = _image((h, w), channels, i)
        want = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        got = resize_linear(image, (nw, nh))
        assert got.shape == want.shape
        assert np.array_equal(got, want), f"{w}x{h} -> {nw}x{nh}, {channels} channels"


@pytest.mark.parametrize("channels", [1, 3])
def test_numpy_port_matches_the_kernel(channels: int) -> None:
    if not native_available():
        pytest.skip("edgeloop._native not built")
    for i, ((h, w), (nh, nw)) in enumerate(SIZES[:30]):
        image = _image((h, w), channels, i)
        assert np.array_equal(resize_linear_numpy(image, (nw, nh)), resize_linear(image, (nw, nh)))


def test_non_contiguous_input() -> None:
    image = _image((50, 80), 3, 0)
    view = image[:, ::-1]  # what a mirrored frame looks like
    assert np.array_equal(resize_linear(view, (40, 25)), resize_linear(np.ascontiguousarray(view), (40, 25)))


def test_same_size_is_returned_as_is() -> None:
    image = _image((10, 10), 3, 0)
    assert resize_linear(image, (10, 10)) is image


@pytest.mark.parametrize(
    ("image", "size", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), (2, 2), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), (2, 2), "1, 3 or 4 channels"),
        (np.zeros((4, 4, 3), np.uint8), (0, 2), "cannot resize"),
    ],
)
def test_bad_input_is_refused(image: np.ndarray, size: tuple[int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resize_linear(image, size)


def test_fallbacks_without_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """No kernel: OpenCV when installed; else the numpy port, with one warning saying what to install."""
    image = _image((30, 50), 3, 1)
    expected = resize_linear_numpy(image, (20, 12))
    monkeypatch.setattr(resize, "native", None)
    if resize._opencv() is not None:
        assert np.array_equal(resize_linear(image, (20, 12)), expected)
    monkeypatch.setattr(resize, "_opencv", lambda: None)
    monkeypatch.setattr(resize, "_warned", False)
    with pytest.warns(RuntimeWarning, match="C compiler"):
        assert np.array_equal(resize_linear(image, (20, 12)), expected)
