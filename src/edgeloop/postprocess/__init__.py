"""Output decoders, one per model output family."""

from __future__ import annotations

from edgeloop.errors import ConfigError
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.registry import Registry

DECODERS = Registry(
    "output family",
    {
        "yolo": "edgeloop.postprocess.yolo:decode_anchor_free",
        "yolo-e2e": "edgeloop.postprocess.yolo:decode_end_to_end",
        "yolov5": "edgeloop.postprocess.yolo:decode_yolov5",
        "classify": "edgeloop.postprocess.classify:decode",
    },
    ConfigError,
)

FAMILY_TASK = {"yolo": "detect", "yolo-e2e": "detect", "yolov5": "detect", "classify": "classify"}

__all__ = ["DECODERS", "FAMILY_TASK", "DecodeOptions"]
