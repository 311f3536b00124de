"""``classify``: classifiers whose output is (B, nc) logits or probabilities."""

from __future__ import annotations

from edgeloop.postprocess.classify import decode
from edgeloop.postprocess.families.base import CONFIRMED, SHAPE, Family, Hints, Match, dim, takes_image
from edgeloop.types import ModelSpec, TensorSpec

NAME = "classify"


def count_classes(output: TensorSpec) -> int | None:
    """nc of a (B, nc) output."""
    return dim(output.shape[-1]) if len(output.shape) == 2 else None


def recognise(spec: ModelSpec, hints: Hints) -> Match | None:
    """Claim 2-D outputs of image models (not feature embedders), unless metadata names another task."""
    output = spec.outputs[0]
    if len(output.shape) != 2 or hints.task not in (None, "classify") or not takes_image(spec):
        return None
    classes = count_classes(output)
    if hints.task == "classify" or (hints.num_names and classes == hints.num_names):
        return Match(NAME, CONFIRMED, classes, "a (batch, classes) output of a classifier")
    return Match(NAME, SHAPE, classes, "a 2-D (batch, classes) output")


FAMILY = Family(
    name=NAME,
    task="classify",
    decode=decode,
    recognise=recognise,
    count_classes=count_classes,
    summary="classifier: (nc,) logits or probabilities",
)
