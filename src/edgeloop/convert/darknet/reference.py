"""OpenCV DNN's own Darknet reader as the reference for the import check (OpenCV 4.x only).

OpenCV names a Darknet layer's pieces ``conv_I``, ``bn_I`` and then its activation; the
map feeding a [yolo] layer is the last of the pieces of the convolution before it, which
``net.forward`` returns by name, so its outputs line up with the converted model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.convert.base import Reference
from edgeloop.convert.darknet.layers import Network


def _feed_names(layer_names: Sequence[str], network: Network) -> list[str]:
    """OpenCV's names of the outputs that feed each [yolo] layer."""
    names = list(layer_names)
    out = []
    for yolo in network.yolo_layers():
        feed = network.layers[yolo.inputs[0]]
        if feed.kind != "convolutional":
            raise ValueError(f"[yolo] layer {yolo.index} does not read a convolution")
        q = names.index(f"conv_{feed.index}") + 1
        if q < len(names) and names[q] == f"bn_{feed.index}":
            q += 1
        out.append(names[q] if feed.activation != "linear" else names[q - 1])
    return out


def opencv_reference(cfg: Path, weights: Path, network: Network) -> tuple[Reference | None, str | None, str]:
    """(reference, its name, a note): OpenCV's Darknet reader when the installed cv2 has one."""
    try:
        import cv2
    except ImportError:
        return (
            None,
            None,
            "OpenCV is not installed: the conversion was not checked against an independent reader",
        )
    read = getattr(getattr(cv2, "dnn", None), "readNetFromDarknet", None)
    if read is None:
        why = f"OpenCV {cv2.__version__} has no Darknet reader (OpenCV 4.x has)"
        return None, None, f"{why}: the conversion was not checked against an independent reader"
    try:
        net = read(str(cfg), str(weights))
        feeds = _feed_names(net.getLayerNames(), network)
    except (cv2.error, ValueError) as exc:
        first = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        return None, None, f"OpenCV {cv2.__version__} could not read the model ({first}): not checked"
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def reference(tensor: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        net.setInput(np.ascontiguousarray(tensor, np.float32))
        return [np.asarray(o) for o in net.forward(feeds)]

    return reference, f"opencv-dnn {cv2.__version__}", ""
