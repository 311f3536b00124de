"""Image -> model input tensor, and the transform that maps boxes back.

Pure functions: the same code feeds inference, evaluation, benchmarks and
INT8 calibration, so what a model sees never drifts between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeloop.imaging import ImageArray


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


def letterbox(
    image: ImageArray, size_hw: tuple[int, int], pad_value: int = 114
) -> tuple[ImageArray, Transform]:
    """Resize keeping aspect ratio, centre, pad the rest with ``pad_value``.

    Rounding follows the common YOLO convention (split padding with -0.1/+0.1
    before rounding) so boxes line up with models trained that way.
    """
    h0, w0 = image.shape[:2]
    h, w = size_hw
    gain = min(h / h0, w / w0)
    new_w, new_h = round(w0 * gain), round(h0 * gain)
    dw, dh = (w - new_w) / 2, (h - new_h) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    canvas = np.empty((h, w, 3), dtype=np.uint8)
    canvas[...] = pad_value
    if (new_w, new_h) != (w0, h0):
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    else:
        resized = image
    canvas[top : top + new_h, left : left + new_w] = resized
    # The scale actually applied per axis (after rounding the resized size).
    return canvas, Transform((new_w / w0, new_h / h0), (float(left), float(top)), (w0, h0))


def stretch(image: ImageArray, size_hw: tuple[int, int]) -> tuple[ImageArray, Transform]:
    """Resize to exactly ``size_hw``, ignoring aspect ratio."""
    h0, w0 = image.shape[:2]
    h, w = size_hw
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return resized, Transform((w / w0, h / h0), (0.0, 0.0), (w0, h0))


def preprocess(image: ImageArray, spec: InputSpec) -> tuple[npt.NDArray[np.generic], Transform]:
    """Prepare one BGR uint8 HxWx3 image for a model.

    Returns:
        (1, 3, H, W) or (1, H, W, 3) tensor of ``spec.dtype``, and the transform
        that maps boxes back to ``image`` pixels.
    """
    if spec.resize == "letterbox":
        resized, transform = letterbox(image, spec.size_hw, spec.pad_value)
    else:
        resized, transform = stretch(image, spec.size_hw)
    swap = spec.color == "RGB"
    if spec.dtype == "uint8":
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB) if swap else resized
        tensor: npt.NDArray[np.generic] = rgb.transpose(2, 0, 1)[None] if spec.layout == "NCHW" else rgb[None]
        return np.ascontiguousarray(tensor), transform
    # Per-channel multiply into one preallocated NCHW buffer: one pass over the
    # pixels, several times faster than cv2.dnn.blobFromImage here.
    h, w = resized.shape[:2]
    blob = np.empty((1, 3, h, w), np.float32)
    channels = cv2.split(resized)  # B, G, R planes
    if swap:
        channels = channels[::-1]
    scale = np.float32(spec.scale)
    for c, plane in enumerate(channels):
        np.multiply(plane, scale, out=blob[0, c], casting="unsafe")
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
