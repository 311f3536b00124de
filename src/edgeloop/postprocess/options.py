"""Options shared by every decoder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DecodeOptions:
    """Thresholds and limits for turning raw outputs into results.

    Attributes:
        conf: keep candidates scoring above this.
        iou: NMS drops a box whose IoU with a better one exceeds this.
        max_det: keep at most this many detections per image.
        agnostic: run NMS across classes instead of within each.
        classes: keep only these class ids (None keeps all).
        names: class names, indexed by class id.
        head: the bundle's ``head`` parameters (anchors, prior boxes) for families that need them.
    """

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    agnostic: bool = False
    classes: tuple[int, ...] | None = None
    names: tuple[str, ...] = ()
    head: Mapping[str, Any] | None = None
