"""``yolo-anchors``: anchor-based YOLO heads as Darknet's [yolo] layer decodes them (YOLOv3, v4, v7-tiny).

Outputs: one raw map ``(A * (5 + nc), H, W)`` per head. The anchors, ``scale_x_y``,
``new_coords`` and strides come from the bundle's ``head`` (written by the Darknet
importer), so this family never claims a model by its shapes: the importer chooses it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from edgeloop.errors import BundleError
from edgeloop.postprocess.anchors import AnchorHead, decode_heads
from edgeloop.postprocess.families.base import Family, Hints, Match
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.postprocess.yolo import _finish
from edgeloop.preprocess import Transform
from edgeloop.types import Detections, ModelSpec, TensorSpec

NAME = "yolo-anchors"


class HeadLayer(BaseModel):
    """One [yolo] layer in ``bundle.json``'s ``head.layers``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anchors: list[tuple[float, float]] = Field(min_length=1, max_length=64)
    mask: list[int] | None = None
    scale_x_y: float = Field(default=1.0, gt=0, le=4)
    new_coords: bool = False
    stride: tuple[float, float]
    grid_hw: tuple[PositiveInt, PositiveInt] | None = None


class AnchorsHead(BaseModel):
    """``bundle.json``'s ``head`` for this family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = "darknet"
    classes: int = Field(ge=1)
    layers: list[HeadLayer] = Field(min_length=1, max_length=16)


@functools.lru_cache(maxsize=32)
def _parse(canonical: str) -> tuple[int, tuple[AnchorHead, ...]]:
    try:
        head = AnchorsHead.model_validate_json(canonical)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"bundle.json head for family {NAME}: {where}: {first['msg']}") from None
    heads = tuple(
        AnchorHead(tuple(layer.anchors), layer.stride, layer.scale_x_y, layer.new_coords, layer.grid_hw)
        for layer in head.layers
    )
    return head.classes, heads


def parse_head(head: Mapping[str, Any] | None) -> tuple[int, tuple[AnchorHead, ...]]:
    """(classes, heads) from a bundle's ``head`` (parsed once per distinct head).

    Raises:
        BundleError: no head, or one that is not this family's.
    """
    if head is None:
        raise BundleError(
            f"family {NAME} needs the anchors in bundle.json's 'head' (written by `edgeloop import` of a "
            "Darknet .cfg); re-import the model"
        )
    return _parse(json.dumps(head, sort_keys=True))


def decode(outputs: Sequence[npt.NDArray[Any]], transform: Transform, options: DecodeOptions) -> Detections:
    """One image's head maps -> detections in original pixels (per-class NMS)."""
    classes, heads = parse_head(options.head)
    xyxy, conf, cls = decode_heads(outputs, heads, classes, options.conf)
    if conf.size == 0:
        return Detections.empty(options.names)
    return _finish(xyxy, conf, cls, transform, options, run_nms=True)


def count_classes(output: TensorSpec) -> int | None:
    """Unknown from one map alone (the anchor count per head lives in the head parameters)."""
    return None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Never claimed from shapes: the Darknet importer chooses this family."""
    return None


FAMILY = Family(
    name=NAME,
    task="detect",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="anchor-based YOLO heads (Darknet [yolo]: v3, v4, v7-tiny): (A * (5 + nc), H, W) per head",
)
