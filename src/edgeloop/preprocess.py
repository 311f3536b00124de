"""Image -> model input tensor, and the transform that maps boxes back.

Pure functions: the same code feeds inference, evaluation, benchmarks and
INT8 calibration, so what a model sees never drifts between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeloop.imaging import ImageArray
from edgeloop.resize import resize_linear


class InputSpec(BaseModel):
    """How a model wants its input image prepared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "images"
    size_hw: tuple[int, int] = Field(default=(640, 640), description="model input height, width")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    color: Literal["RGB", "BGR"] = "RGB"
    dtype: Literal["float32", "float16", "uint8"] = "float32"
    resize: Literal["letterbox", "stretch"] = "letterbox"
    pad_value: int = Field(default=114, ge=0, le=255)
    scale: float = Field(default=1 / 255, gt=0, description="multiplies pixel values first")
    mean: tuple[float, float, float] | None = Field(
        default=None, description="subtracted after scaling, in input color order"
    )
    std: tuple[float, float, float] | None = Field(default=None, description="divides after subtracting mean")

    @field_validator("size_hw")
    @classmethod
    def _positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"input size must be positive, got {v}")
        return v

    @field_validator("std")
    @classmethod
    def _nonzero(cls, v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if v is not None and any(s == 0 for s in v):
            raise ValueError("std values must be non-zero")
        return v


@dataclass(frozen=True)
class Transform:
    """Maps model-input pixel coordinates back to the original image.

    original = (model - pad) / gain, then clipped to the original size.
    """

    gain_xy: tuple[float, float]
    pad_xy: tuple[float, float]
    original_wh: tuple[int, int]

    def boxes_to_original(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(N, 4) xyxy in model-input pixels -> (N, 4) in original pixels, clipped."""
        out = np.empty_like(xyxy, dtype=np.float32)
        gx, gy = self.gain_xy
        px, py = self.pad_xy
        w, h = self.original_wh
        np.clip((xyxy[:, 0::2] - px) / gx, 0, w, out=out[:, 0::2])
        np.clip((xyxy[:, 1::2] - py) / gy, 0, h, out=out[:, 1::2])
        return out

    def for_original(self, original_wh: tuple[int, int]) -> Transform:
        """The same mapping, to an original image that this one is a resized copy of."""
        w, h = self.original_wh
        w0, h0 = original_wh
        return Transform((self.gain_xy[0] * w / w0, self.gain_xy[1] * h / h0), self.pad_xy, (w0, h0))


def jpeg_reduction(image_wh: tuple[int, int], spec: InputSpec) -> int:
    """Largest 1/r JPEG decode scale (r in 8, 4, 2) that still leaves at least as
    many pixels along each axis as the model input takes from the image, so the
    resize that follows never enlarges; 1 when none does."""
    w0, h0 = image_wh
    if spec.resize == "letterbox":
        (need_w, need_h), _, _ = letterbox_geometry((h0, w0), spec.size_hw)
    else:
        need_h, need_w = spec.size_hw
    for r in (8, 4, 2):
        if -(-w0 // r) >= need_w and -(-h0 // r) >= need_h:
            return r
    return 1


def letterbox_geometry(
    image_hw: tuple[int, int], size_hw: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int], Transform]:
    """Where a letterboxed image lands: ((new_w, new_h), (left, top), transform).

    Rounding follows the common YOLO convention (split padding with -0.1/+0.1
    before rounding) so boxes line up with models trained that way.
    """
    h0, w0 = image_hw
    h, w = size_hw
    gain = min(h / h0, w / w0)
    # At least one pixel: a 5000x1 sliver must not round to nothing (a resize to width 0 fails).
    new_w, new_h = max(1, round(w0 * gain)), max(1, round(h0 * gain))
    top, left = round((h - new_h) / 2 - 0.1), round((w - new_w) / 2 - 0.1)
    # The scale actually applied per axis (after rounding the resized size).
    transform = Transform((new_w / w0, new_h / h0), (float(left), float(top)), (w0, h0))
    return (new_w, new_h), (left, top), transform


def _resize(image: ImageArray, new_wh: tuple[int, int]) -> ImageArray:
    # The same bytes as cv2.resize(INTER_LINEAR), which YOLO-family models were trained on.
    return resize_linear(image, new_wh)


def letterbox(
    image: ImageArray, size_hw: tuple[int, int], pad_value: int = 114
) -> tuple[ImageArray, Transform]:
    """Resize keeping aspect ratio, centre, pad the rest with ``pad_value``."""
    (new_w, new_h), (left, top), transform = letterbox_geometry(image.shape[:2], size_hw)
    canvas = np.empty((size_hw[0], size_hw[1], 3), dtype=np.uint8)
    canvas[...] = pad_value
    canvas[top : top + new_h, left : left + new_w] = _resize(image, (new_w, new_h))
    return canvas, transform


def stretch_geometry(
    image_hw: tuple[int, int], size_hw: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int], Transform]:
    """Like ``letterbox_geometry`` for a plain resize to ``size_hw``."""
    (h0, w0), (h, w) = image_hw, size_hw
    return (w, h), (0, 0), Transform((w / w0, h / h0), (0.0, 0.0), (w0, h0))


def stretch(image: ImageArray, size_hw: tuple[int, int]) -> tuple[ImageArray, Transform]:
    """Resize to exactly ``size_hw``, ignoring aspect ratio."""
    new_wh, _, transform = stretch_geometry(image.shape[:2], size_hw)
    return _resize(image, new_wh), transform


def _planar_float(image: ImageArray, spec: InputSpec) -> tuple[npt.NDArray[np.float32], Transform]:
    """Resize and write scaled planes straight into a (1, 3, H, W) float32 buffer.

    The letterbox bars are filled with the scaled pad value directly, so no
    padded uint8 canvas is built and copied: fewer passes over memory, which
    matters most right after inference has flushed the caches.
    """
    h, w = spec.size_hw
    geometry = letterbox_geometry if spec.resize == "letterbox" else stretch_geometry
    (new_w, new_h), (left, top), transform = geometry(image.shape[:2], spec.size_hw)
    scale = np.float32(spec.scale)
    blob = np.empty((1, 3, h, w), np.float32)
    fill = np.float32(spec.pad_value) * scale
    blob[0, :, :top] = fill
    blob[0, :, top + new_h :] = fill
    blob[0, :, top : top + new_h, :left] = fill
    blob[0, :, top : top + new_h, left + new_w :] = fill
    resized = _resize(image, (new_w, new_h))
    order = (2, 1, 0) if spec.color == "RGB" else (0, 1, 2)  # decoded images are BGR
    for c, source in enumerate(order):
        np.multiply(
            resized[:, :, source],
            scale,
            out=blob[0, c, top : top + new_h, left : left + new_w],
            casting="unsafe",
        )
    return blob, transform


def preprocess(image: ImageArray, spec: InputSpec) -> tuple[npt.NDArray[np.generic], Transform]:
    """Prepare one BGR uint8 HxWx3 image for a model.

    Returns:
        (1, 3, H, W) or (1, H, W, 3) tensor of ``spec.dtype``, and the transform
        that maps boxes back to ``image`` pixels.
    """
    if spec.dtype == "uint8":
        if spec.resize == "letterbox":
            resized, transform = letterbox(image, spec.size_hw, spec.pad_value)
        else:
            resized, transform = stretch(image, spec.size_hw)
        rgb = resized[:, :, ::-1] if spec.color == "RGB" else resized
        tensor: npt.NDArray[np.generic] = rgb.transpose(2, 0, 1)[None] if spec.layout == "NCHW" else rgb[None]
        return np.ascontiguousarray(tensor), transform
    blob, transform = _planar_float(image, spec)
    if spec.mean is not None:
        blob -= np.asarray(spec.mean, np.float32)[None, :, None, None]
    if spec.std is not None:
        blob /= np.asarray(spec.std, np.float32)[None, :, None, None]
    tensor = blob
    if spec.layout == "NHWC":
        tensor = np.ascontiguousarray(blob.transpose(0, 2, 3, 1))
    if spec.dtype == "float16":
        tensor = tensor.astype(np.float16)
    return tensor, transform
