"""``ssd``: Caffe-style SSD heads (MobileNet-SSD and kin) with prior boxes.

The model outputs the box offsets (P * 4) and softmaxed class scores (P * num_classes,
background included) that feed Caffe's DetectionOutput layer. The prior boxes are
rebuilt from the PriorBox parameters in the bundle's ``head`` (``bundle.json``), and
decoding follows DetectionOutput: CENTER_SIZE (or CORNER) coding with variances, a
per-class confidence threshold, per-class ``nms_top_k`` then NMS, ``keep_top_k``
overall. The confidence and IoU thresholds are the decode options' (the importer makes
DetectionOutput's ``confidence_threshold`` and ``nms_threshold`` the bundle's defaults).
The background class is dropped and the ids shift so class 0 is the first real class.
Chosen by the Caffe importer, never recognised from output shapes alone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from edgeloop.errors import ConfigError
from edgeloop.postprocess.families.base import Family, Hints, Match
from edgeloop.postprocess.nms import batched_nms
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import Detections, ModelSpec, TensorSpec

NAME = "ssd"
MAX_PRIORS = 1 << 21
FloatArray = npt.NDArray[np.float32]


class PriorBoxes(BaseModel):
    """One Caffe PriorBox layer, with the feature-map and image sizes it saw."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature_hw: tuple[PositiveInt, PositiveInt] = Field(description="feature map height, width")
    image_hw: tuple[PositiveInt, PositiveInt]
    step_hw: tuple[PositiveFloat, PositiveFloat]
    min_sizes: list[PositiveFloat] = Field(min_length=1, max_length=64)
    max_sizes: list[PositiveFloat] = Field(default=[], max_length=64)
    aspect_ratios: list[PositiveFloat] = Field(default=[], max_length=64)
    flip: bool = True
    clip: bool = False
    variance: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    offset: float = 0.5

    @model_validator(mode="after")
    def _one_max_per_min(self) -> PriorBoxes:
        if self.max_sizes and len(self.max_sizes) != len(self.min_sizes):
            raise ValueError(
                f"{len(self.max_sizes)} max_sizes for {len(self.min_sizes)} min_sizes: "
                "give one max_size per min_size, or none"
            )
        return self


class SsdHead(BaseModel):
    """DetectionOutput's parameters plus the prior boxes, as the Caffe importer writes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_classes: int = Field(ge=2)
    background_label_id: int = Field(default=0, ge=-1)
    nms_threshold: float = Field(default=0.45, gt=0, le=1)
    nms_top_k: int = -1
    keep_top_k: int = -1
    confidence_threshold: float = 0.01
    code_type: Literal["CENTER_SIZE", "CORNER"] = "CENTER_SIZE"
    variance_encoded_in_target: bool = False
    clip: bool = False
    input_hw: tuple[PositiveInt, PositiveInt]
    priors: list[PriorBoxes] = Field(min_length=1)


def _ratios(prior: PriorBoxes) -> list[float]:
    ratios = [1.0]
    for ar in prior.aspect_ratios:
        if any(abs(ar - r) < 1e-6 for r in ratios):
            continue
        ratios.append(ar)
        if prior.flip:
            ratios.append(1.0 / ar)
    return ratios


def _per_cell(prior: PriorBoxes) -> int:
    return len(prior.min_sizes) * len(_ratios(prior)) + len(prior.max_sizes)


def _layer_priors(prior: PriorBoxes) -> tuple[FloatArray, FloatArray]:
    """(N, 4) normalized xyxy boxes and (N, 4) variances, in Caffe's order (cell, then size)."""
    fh, fw = prior.feature_hw
    img_h, img_w = prior.image_hw
    sizes: list[tuple[float, float]] = []  # box width, height per cell
    for i, lo in enumerate(prior.min_sizes):
        sizes.append((lo, lo))
        if prior.max_sizes:
            side = float(np.sqrt(lo * prior.max_sizes[i]))
            sizes.append((side, side))
        for ar in _ratios(prior)[1:]:
            sizes.append((lo * float(np.sqrt(ar)), lo / float(np.sqrt(ar))))
    wh = np.asarray(sizes, np.float64)
    ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
    cx = ((xs.reshape(-1) + prior.offset) * prior.step_hw[1])[:, None]
    cy = ((ys.reshape(-1) + prior.offset) * prior.step_hw[0])[:, None]
    boxes = np.stack(
        [
            (cx - wh[:, 0] / 2) / img_w,
            (cy - wh[:, 1] / 2) / img_h,
            (cx + wh[:, 0] / 2) / img_w,
            (cy + wh[:, 1] / 2) / img_h,
        ],
        axis=-1,
    ).reshape(-1, 4)
    if prior.clip:
        boxes = np.clip(boxes, 0.0, 1.0)
    variances = np.tile(np.asarray(prior.variance, np.float32), (len(boxes), 1))
    return boxes.astype(np.float32), variances


@functools.lru_cache(maxsize=32)
def _parsed(canonical: str) -> tuple[SsdHead, FloatArray, FloatArray]:
    try:
        head = SsdHead.model_validate_json(canonical)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"the bundle's SSD head parameters are invalid: {where}: {first['msg']}") from None
    count = sum(p.feature_hw[0] * p.feature_hw[1] * _per_cell(p) for p in head.priors)
    if count > MAX_PRIORS:
        raise ConfigError(f"the bundle's SSD head describes {count} prior boxes (more than {MAX_PRIORS})")
    parts = [_layer_priors(p) for p in head.priors]
    boxes = np.concatenate([b for b, _ in parts])
    variances = np.concatenate([v for _, v in parts])
    boxes.setflags(write=False)
    variances.setflags(write=False)
    return head, boxes, variances


def parse_head(head: Mapping[str, Any] | None) -> tuple[SsdHead, FloatArray, FloatArray]:
    """The validated head and its prior boxes and variances (computed once per head).

    Raises:
        ConfigError: the bundle has no head, or an invalid one.
    """
    if head is None:
        raise ConfigError(
            "an ssd bundle needs 'head' parameters (prior boxes) in bundle.json: re-import the model"
        )
    return _parsed(json.dumps(head, sort_keys=True))


def decode_boxes(loc: FloatArray, priors: FloatArray, variances: FloatArray, head: SsdHead) -> FloatArray:
    """Box offsets -> normalized xyxy boxes, as Caffe's DecodeBBox does."""
    var = np.ones_like(variances) if head.variance_encoded_in_target else variances
    if head.code_type == "CORNER":
        out = priors + var * loc
    else:
        pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
        pcx, pcy = (priors[:, 0] + priors[:, 2]) / 2, (priors[:, 1] + priors[:, 3]) / 2
        cx = var[:, 0] * loc[:, 0] * pw + pcx
        cy = var[:, 1] * loc[:, 1] * ph + pcy
        w = np.exp(var[:, 2] * loc[:, 2]) * pw
        h = np.exp(var[:, 3] * loc[:, 3]) * ph
        out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    out = out.astype(np.float32)
    return np.clip(out, 0.0, 1.0) if head.clip else out


def decode(outputs: Sequence[npt.NDArray[Any]], transform: Transform, options: DecodeOptions) -> Detections:
    """One image's (P * 4) locations and (P * num_classes) scores -> detections in original pixels."""
    head, priors, variances = parse_head(options.head)
    count, nc = len(priors), head.num_classes
    loc = np.asarray(outputs[0], np.float32).reshape(-1)
    conf = np.asarray(outputs[1], np.float32).reshape(-1)
    if loc.size != 4 * count or conf.size != nc * count:
        raise ValueError(
            f"ssd decoder: {count} priors need {4 * count} and {nc * count} values, "
            f"got {loc.size} and {conf.size}"
        )
    scores = conf.reshape(count, nc)
    labels = [c for c in range(nc) if c != head.background_label_id]
    rows: list[npt.NDArray[np.intp]] = []
    ids: list[npt.NDArray[np.int32]] = []
    for class_id, label in enumerate(labels):
        if options.classes is not None and class_id not in options.classes:
            continue
        idx = np.flatnonzero(scores[:, label] > options.conf)
        if head.nms_top_k > 0 and idx.size > head.nms_top_k:
            order = np.argsort(-scores[idx, label], kind="stable")[: head.nms_top_k]
            idx = idx[order]
        rows.append(idx)
        ids.append(np.full(idx.size, class_id, np.int32))
    index = np.concatenate(rows) if rows else np.zeros(0, np.intp)
    if index.size == 0:
        return Detections.empty(options.names)
    cls = np.concatenate(ids)
    score = scores[index, np.asarray(labels, np.intp)[cls]]
    boxes = decode_boxes(loc.reshape(count, 4)[index], priors[index], variances[index], head)
    limit = options.max_det if head.keep_top_k <= 0 else min(options.max_det, head.keep_top_k)
    keep = batched_nms(boxes, score, cls, options.iou, limit, options.agnostic)
    h, w = head.input_hw
    pixels = boxes[keep] * np.asarray([w, h, w, h], np.float32)
    return Detections(transform.boxes_to_original(pixels), score[keep], cls[keep], options.names)


def count_classes(output: TensorSpec) -> int | None:
    return None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Never from shapes alone: the Caffe importer picks this family and writes its head."""
    return None


FAMILY = Family(
    name=NAME,
    task="detect",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="SSD with prior boxes (Caffe MobileNet-SSD): locations + softmaxed scores, head in bundle.json",
)
