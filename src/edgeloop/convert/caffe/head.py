"""SSD heads: PriorBox and DetectionOutput stay out of the ONNX graph and go into ``bundle.json``.

The converted model outputs the location and confidence tensors that feed
DetectionOutput; the ``ssd`` output family rebuilds the prior boxes from the
parameters recorded here and decodes exactly as Caffe's DetectionOutput does.
"""

from __future__ import annotations

from typing import Any

from edgeloop.convert.caffe.net import Layer, NetError

CODE_TYPES = {"CORNER": "CORNER", "CENTER_SIZE": "CENTER_SIZE", "1": "CORNER", "2": "CENTER_SIZE"}


def prior_box(layer: Layer, feature_hw: tuple[int, int], image_hw: tuple[int, int]) -> dict[str, Any]:
    """The parameters of one PriorBox layer, with the feature-map and image sizes it sees."""
    p = layer.params.message("prior_box_param")
    min_sizes = p.numbers("min_size")
    max_sizes = p.numbers("max_size")
    if not min_sizes or any(s <= 0 for s in min_sizes):
        raise NetError(f"PriorBox '{layer.name}' needs positive min_size values")
    if max_sizes and (
        len(max_sizes) != len(min_sizes) or any(a <= b for a, b in zip(max_sizes, min_sizes, strict=False))
    ):
        raise NetError(f"PriorBox '{layer.name}': each max_size must follow a smaller min_size")
    variance = p.numbers("variance") or [0.1]
    if len(variance) not in (1, 4) or any(v <= 0 for v in variance):
        raise NetError(f"PriorBox '{layer.name}': variance needs 1 or 4 positive values")
    img_h, img_w = image_hw
    if p.has("img_size"):
        img_h = img_w = p.integer("img_size", 0)
    elif p.has("img_h") or p.has("img_w"):
        img_h, img_w = p.integer("img_h", 0), p.integer("img_w", 0)
    step_h = step_w = 0.0
    if p.has("step"):
        step_h = step_w = p.number("step", 0.0)
    elif p.has("step_h") or p.has("step_w"):
        step_h, step_w = p.number("step_h", 0.0), p.number("step_w", 0.0)
    fh, fw = feature_hw
    return {
        "feature_hw": [fh, fw],
        "image_hw": [img_h, img_w],
        "step_hw": [step_h or img_h / fh, step_w or img_w / fw],
        "min_sizes": min_sizes,
        "max_sizes": max_sizes,
        "aspect_ratios": p.numbers("aspect_ratio"),
        "flip": p.flag("flip", True),
        "clip": p.flag("clip", False),
        "variance": variance * 4 if len(variance) == 1 else variance,
        "offset": p.number("offset", 0.5),
    }


def priors_per_cell(prior: dict[str, Any]) -> int:
    """How many boxes one PriorBox layer makes per feature-map cell (as Caffe counts them)."""
    ratios: list[float] = [1.0]
    for ar in prior["aspect_ratios"]:
        for r in (ar, 1.0 / ar) if prior["flip"] else (ar,):
            if all(abs(r - seen) > 1e-6 for seen in ratios):
                ratios.append(r)
    return len(prior["min_sizes"]) * len(ratios) + len(prior["max_sizes"])


def detection_output(layer: Layer) -> dict[str, Any]:
    """DetectionOutput's parameters: classes, background, NMS, confidence, box coding."""
    p = layer.params.message("detection_output_param")
    num_classes = p.integer("num_classes", 0)
    if num_classes < 2:
        raise NetError(f"DetectionOutput '{layer.name}' needs num_classes >= 2 (background + a class)")
    if not p.flag("share_location", True):
        raise NetError(f"DetectionOutput '{layer.name}': share_location false is not supported")
    code = CODE_TYPES.get(p.text("code_type", "CORNER"))
    if code is None:
        raise NetError(
            f"DetectionOutput '{layer.name}': code_type {p.text('code_type', '')} is not supported"
        )
    nms = p.message("nms_param")
    background = p.integer("background_label_id", 0)
    if not -1 <= background < num_classes:
        raise NetError(f"DetectionOutput '{layer.name}': background_label_id {background} is not a class")
    return {
        "num_classes": num_classes,
        "background_label_id": background,
        "nms_threshold": nms.number("nms_threshold", 0.3),
        "nms_top_k": nms.integer("top_k", -1),
        "keep_top_k": p.integer("keep_top_k", -1),
        "confidence_threshold": p.number("confidence_threshold", 0.01),
        "code_type": code,
        "variance_encoded_in_target": p.flag("variance_encoded_in_target", False),
        "clip": p.flag("clip", False),
    }
