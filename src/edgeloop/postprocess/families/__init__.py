"""The output-family registry: one module per family, imported on first use.

Each family module builds one ``Family`` (``base.py``): its task, its decoder,
how it recognises a model from ONNX output shapes and metadata, and how it
counts classes. Adding a family is one new module plus one line here.
"""

from __future__ import annotations

from edgeloop.errors import ConfigError, ModelImportError, NoDecoderError
from edgeloop.postprocess.families.base import CONFIRMED, SHAPE, Decoder, Family, Hints, Match, Task
from edgeloop.registry import Registry
from edgeloop.types import ModelSpec

# name -> module. Each module builds ``FAMILY``; those with a decoder also export it as ``decode``.
_MODULES = {
    "yolo": "edgeloop.postprocess.families.yolo",
    "yolo-e2e": "edgeloop.postprocess.families.yolo_e2e",
    "yolov5": "edgeloop.postprocess.families.yolov5",
    "yolo-anchors": "edgeloop.postprocess.families.yolo_anchors",
    "classify": "edgeloop.postprocess.families.classify",
    "ssd": "edgeloop.postprocess.families.ssd",
    "raw": "edgeloop.postprocess.families.raw",
}
NO_DECODER = frozenset({"raw"})
"""Families whose bundles run as tensors only (their ``Family.decode`` is None)."""

FAMILIES = Registry(
    "output family", {name: f"{module}:FAMILY" for name, module in _MODULES.items()}, ConfigError
)

DECODERS = Registry(
    "output family with a decoder",
    {name: f"{module}:decode" for name, module in _MODULES.items() if name not in NO_DECODER},
    ConfigError,
)
"""The decoders alone: name -> ``decode(outputs, transform, options)``."""


def get_family(name: str) -> Family:
    """The family registered as ``name``.

    Raises:
        ConfigError: no such family.
    """
    family: Family = FAMILIES.get(name)
    return family


def recognise(spec: ModelSpec, hints: Hints) -> Match:
    """The one family that claims ``spec`` most strongly.

    Raises:
        ModelImportError: no family claims it, or two claim it equally.
    """
    matches = [m for name in FAMILIES.names() if (m := get_family(name).recognise(spec, hints)) is not None]
    shape = list(spec.outputs[0].shape)
    if not matches:
        raise ModelImportError(_no_family_message(spec, hints))
    best = max(m.score for m in matches)
    top = [m for m in matches if m.score == best]
    if len(top) > 1:
        fits = "; ".join(f"{m.family} ({m.reason})" for m in top)
        raise ModelImportError(
            f"output shape {shape} fits more than one family: {fits}: "
            f"pass --family {'|'.join(m.family for m in top)}"
        )
    return top[0]


def _no_family_message(spec: ModelSpec, hints: Hints) -> str:
    shape = list(spec.outputs[0].shape)
    decoding = "|".join(DECODERS.names())
    raw = "--family raw to keep its outputs as tensors (served over /v2, no decoder)"
    if len(shape) not in (2, 3) or len(spec.inputs[0].shape) != 4:  # no decoder reads such a model
        return f"no output family edgeloop decodes fits output shape {shape}: pass {raw}"
    if hints.task not in (None, "detect", "classify"):  # e.g. Ultralytics segment, pose, obb
        return f"the model's metadata says task '{hints.task}', which no output family decodes: pass {raw}"
    flags = [
        *([] if hints.num_names else ["--names a,b,c (the model carries no class names)"]),
        *([] if hints.imgsz_hw else ["--imgsz HEIGHT,WIDTH"]),
        f"--family {decoding}",
    ]
    return f"cannot tell the output family from output shape {shape}: pass {', '.join(flags)}, or {raw}"


def require_decoder(family: str, bundle: str) -> Decoder:
    """The decoder of ``family``, for bundle ``bundle``.

    Raises:
        NoDecoderError: the family (``raw``) has none.
    """
    decode = get_family(family).decode
    if decode is None:
        raise NoDecoderError(
            f"bundle '{bundle}' has no decoder (family '{family}'): it gives raw output tensors, "
            f"not detections or classes. Serve it (edgeloop serve) and send tensors to "
            f"/v2/models/{bundle}/infer, or run it from Python with Predictor.infer(tensor)"
        )
    return decode


__all__ = [
    "CONFIRMED",
    "DECODERS",
    "FAMILIES",
    "NO_DECODER",
    "SHAPE",
    "Decoder",
    "Family",
    "Hints",
    "Match",
    "Task",
    "get_family",
    "recognise",
    "require_decoder",
]
