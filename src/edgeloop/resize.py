"""Bilinear resize of uint8 images with OpenCV's exact pixels, without OpenCV.

Models exported by Ultralytics (and most YOLO tooling) were trained and are
served on ``cv2.resize(INTER_LINEAR)`` output; a resize that rounds
differently moves their detections (docs/benchmarks.md has the numbers). The
small C extension ``edgeloop._native`` reproduces OpenCV's arithmetic and is
about as fast. When it was not built (no C compiler at install time),
OpenCV's own resize is used if OpenCV is installed, and otherwise a numpy port
of the same arithmetic gives the same bytes, several times slower, with a
one-time warning that says how to get the fast path.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeloop.native import kernels

ImageArray = npt.NDArray[np.uint8]

_COEF = 2048  # OpenCV's 11-bit fixed-point weights

native: ModuleType | None = kernels  # a module attribute, so tests can hide the kernels

_warned = False


def resize_linear(image: ImageArray, new_wh: tuple[int, int]) -> ImageArray:
    """Resize an (H, W) or (H, W, C) uint8 image to ``new_wh`` = (width, height).

    Same bytes as ``cv2.resize(image, new_wh, interpolation=cv2.INTER_LINEAR)``
    for 1, 3 and 4 channels.
    """
    new_w, new_h = new_wh
    if image.ndim not in (2, 3) or image.dtype != np.uint8:
        raise ValueError(
            f"resize_linear takes (H, W) or (H, W, C) uint8 images, got {image.dtype} {image.shape}"
        )
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(f"resize_linear takes 1, 3 or 4 channels, got {channels}")
    if new_w <= 0 or new_h <= 0 or h == 0 or w == 0:
        raise ValueError(f"cannot resize {w}x{h} to {new_w}x{new_h}")
    if (w, h) == (new_w, new_h):
        return image
    if native is None:
        cv2 = _opencv()
        if cv2 is not None:
            return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        _warn_slow()
        return resize_linear_numpy(image, new_wh)
    out = np.empty((new_h, new_w, *image.shape[2:]), np.uint8)
    native.resize_linear(np.ascontiguousarray(image), h, w, channels, out, new_h, new_w)
    return out


@lru_cache(maxsize=1)
def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _warn_slow() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            "edgeloop's native resize kernel is not built and OpenCV is not installed: using a slower "
            "numpy copy of the kernel; reinstall edgeloop where a C compiler is available "
            "(e.g. apt-get install gcc python3-dev) or pip install opencv-python-headless",
            RuntimeWarning,
            stacklevel=3,
        )


def _coefficients(
    size: int, source: int, clamp: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Source index and 11-bit weights per output index, computed as OpenCV does (in float32)."""
    scale = 1.0 / (size / source)
    f = ((np.arange(size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    if clamp:
        low = s < 0
        high = s >= source - 1
        f[low | high] = 0
        s[low] = 0
        s[high] = source - 1
    w0 = np.rint((np.float32(1) - f) * np.float32(_COEF)).astype(np.int32)
    w1 = np.rint(f * np.float32(_COEF)).astype(np.int32)
    return s, w0, w1


def resize_linear_numpy(image: ImageArray, new_wh: tuple[int, int]) -> ImageArray:
    """The numpy port of the native kernel (same bytes, several times slower)."""
    new_w, new_h = new_wh
    h, w = image.shape[:2]
    img = image if image.ndim == 3 else image[:, :, None]
    if h == 2 * new_h and w == 2 * new_w:  # OpenCV takes the 2x2 mean here
        s = img.astype(np.uint16)
        total = s[0::2, 0::2] + s[0::2, 1::2] + s[1::2, 0::2] + s[1::2, 1::2] + 2
        out = (total >> 2).astype(np.uint8)
        return out if image.ndim == 3 else out[:, :, 0]
    xs, a0, a1 = _coefficients(new_w, w, clamp=True)
    ys, b0, b1 = _coefficients(new_h, h, clamp=False)
    rows = np.unique(np.clip(np.concatenate([ys, ys + 1]), 0, h - 1))
    src = img[rows].astype(np.int32)
    x1 = np.minimum(xs + 1, w - 1)
    horizontal = src[:, xs] * a0[None, :, None] + src[:, x1] * a1[None, :, None]
    horizontal >>= 4
    index = np.searchsorted(rows, np.clip(ys, 0, h - 1))
    index1 = np.searchsorted(rows, np.clip(ys + 1, 0, h - 1))
    top = (horizontal[index] * b0[:, None, None]) >> 16
    top += (horizontal[index1] * b1[:, None, None]) >> 16
    top += 2
    top >>= 2
    out = np.clip(top, 0, 255).astype(np.uint8)
    return out if image.ndim == 3 else out[:, :, 0]
