"""Bundles for the output families that an importer chooses, never ONNX shape recognition.

Such a family (``ssd``, ``yolo-anchors``) decodes with parameters that come from the source
model (prior boxes, anchors in ``bundle.json`` ``head``), so the registry contract test cannot
make its model from a bare ONNX file: it asks here for a bundle converted from a synthetic
source model.
Adding one is a line in ``MAKERS``: family -> "module:function(work folder) -> bundle folder".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

MAKERS = {
    "ssd": "edgeloop.testing.imported_families:caffe_ssd_bundle",
    "yolo-anchors": "edgeloop.testing.darknet_models:darknet_bundle",
}


def caffe_ssd_bundle(work: Path) -> Path:
    """A narrow MobileNet-SSD written in Caffe's formats and imported (unchecked: fast)."""
    from edgeloop.convert import ConvertOptions, convert_model
    from edgeloop.testing.caffe_models import mobilenet_ssd

    prototxt, weights = mobilenet_ssd(work / "caffe", num_classes=3, width=0.25)
    convert_model(
        prototxt, work / "bundle", ConvertOptions(weights=weights, names=["red", "green"], check=False)
    )
    return work / "bundle"


def imported_family_bundle(family: str, work: Path) -> Path | None:
    """A bundle of ``family`` made through its importer, or None when ONNX recognition makes it."""
    target = MAKERS.get(family)
    if target is None:
        return None
    module, name = target.split(":")
    maker: Callable[[Path], Path] = getattr(importlib.import_module(module), name)
    return maker(work)
