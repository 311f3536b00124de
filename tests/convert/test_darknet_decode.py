"""The ``yolo-anchors`` decoder on hand-made head maps: Darknet's formulas, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeloop.errors import BundleError
from edgeloop.postprocess.families import Hints, get_family
from edgeloop.postprocess.families.yolo_anchors import decode
from edgeloop.postprocess.options import DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import ModelSpec, TensorSpec

NC = 2
ANCHORS = [[10.0, 20.0], [30.0, 40.0]]


def _head(scale: float = 1.0, new_coords: bool = False) -> dict[str, object]:
    layer = {"anchors": ANCHORS, "scale_x_y": scale, "new_coords": new_coords, "stride": [16.0, 16.0]}
    return {"format": "darknet", "classes": NC, "layers": [layer]}


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _map(values: dict[tuple[int, int, int, int], float], fill: float) -> np.ndarray:
    """(A * (5 + nc), 4, 4) filled with ``fill``; values[(anchor, channel, y, x)] set."""
    out = np.full((2, 5 + NC, 4, 4), fill, np.float32)
    for (a, c, y, x), v in values.items():
        out[a, c, y, x] = v
    return out.reshape(2 * (5 + NC), 4, 4)


def _options(head: dict[str, object]) -> DecodeOptions:
    return DecodeOptions(conf=0.25, iou=0.45, names=("a", "b"), head=head)


IDENTITY = Transform((1.0, 1.0), (0.0, 0.0), (64, 64))


def test_classic_head_with_scale_x_y() -> None:
    # anchor 1 at cell (x=2, y=1): sigmoid offsets 0.25 / 0.75, w = e^0.5 * 30, h = e^-0.2 * 40
    cell = {
        (1, 0, 1, 2): _logit(0.25), (1, 1, 1, 2): _logit(0.75), (1, 2, 1, 2): 0.5, (1, 3, 1, 2): -0.2,
        (1, 4, 1, 2): _logit(0.9), (1, 5, 1, 2): _logit(0.2), (1, 6, 1, 2): _logit(0.8),
    }  # fmt: skip
    dets = decode([_map(cell, -8.0)], IDENTITY, _options(_head(scale=1.2)))
    assert len(dets.confidence) == 1
    s = 1.2
    cx, cy = (2 + 0.25 * s - (s - 1) / 2) * 16, (1 + 0.75 * s - (s - 1) / 2) * 16
    w, h = math.exp(0.5) * 30, math.exp(-0.2) * 40
    np.testing.assert_allclose(dets.xyxy[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=1e-3)
    assert dets.class_id[0] == 1
    assert dets.confidence[0] == pytest.approx(0.9 * 0.8, abs=1e-6)  # objectness x class probability


def test_new_coords_head_takes_logistic_outputs() -> None:
    # YOLOv7: the map is already through a logistic; w = (2 * 0.6)^2 * 10
    cell = {
        (0, 0, 3, 0): 0.5, (0, 1, 3, 0): 0.5, (0, 2, 3, 0): 0.6, (0, 3, 3, 0): 0.4,
        (0, 4, 3, 0): 0.8, (0, 5, 3, 0): 0.9, (0, 6, 3, 0): 0.1,
    }  # fmt: skip
    dets = decode([_map(cell, 0.01)], IDENTITY, _options(_head(scale=2.0, new_coords=True)))
    assert len(dets.confidence) == 1
    cx, cy = (0 + 0.5 * 2 - 0.5) * 16, (3 + 0.5 * 2 - 0.5) * 16
    w, h = (2 * 0.6) ** 2 * 10, (2 * 0.4) ** 2 * 20
    expected = [cx - w / 2, cy - h / 2, min(cx + w / 2, 64), min(cy + h / 2, 64)]
    np.testing.assert_allclose(
        dets.xyxy[0], [max(expected[0], 0), max(expected[1], 0), *expected[2:]], atol=1e-3
    )
    assert (dets.class_id[0], dets.confidence[0]) == (0, pytest.approx(0.72, abs=1e-6))


def test_boxes_are_mapped_through_the_transform() -> None:
    cell = {
        (0, 0, 0, 0): 0.0,
        (0, 1, 0, 0): 0.0,
        (0, 2, 0, 0): 0.0,
        (0, 3, 0, 0): 0.0,
        (0, 4, 0, 0): 5.0,
        (0, 5, 0, 0): 5.0,
    }
    stretched = Transform((0.5, 0.25), (0.0, 0.0), (128, 256))  # a 128x256 image stretched to 64x64
    dets = decode([_map(cell, -8.0)], stretched, _options(_head()))
    cx, cy = 0.5 * 16 / 0.5, 0.5 * 16 / 0.25
    np.testing.assert_allclose(dets.xyxy[0], [cx - 10, 0.0, cx + 10, cy + 40], atol=1e-3)  # y1 clipped


def test_a_missing_or_bad_head_is_a_clear_bundle_error() -> None:
    maps = [_map({}, -8.0)]
    with pytest.raises(BundleError, match="needs the anchors in bundle.json's 'head'"):
        decode(maps, IDENTITY, DecodeOptions(head=None))
    bad = {"classes": NC, "layers": [{"anchors": [], "stride": [16, 16]}]}
    with pytest.raises(BundleError, match=r"layers\.0\.anchors"):
        decode(maps, IDENTITY, DecodeOptions(head=bad))
    with pytest.raises(ValueError, match=r"needs a \(14, H, W\) map"):
        decode([np.zeros((12, 4, 4), np.float32)], IDENTITY, _options(_head()))
    with pytest.raises(ValueError, match="2 outputs for 1"):
        decode([maps[0], maps[0]], IDENTITY, _options(_head()))


def test_a_map_of_another_grid_size_is_refused() -> None:
    """The strides hold for the grid the head was written for: a map of another size (the model run
    at another input size) would decode with the wrong strides, so it is refused."""
    head = _head()
    head["layers"][0]["grid_hw"] = [4, 4]  # type: ignore[index]
    cell = {(0, 4, 0, 0): 5.0, (0, 5, 0, 0): 5.0}
    assert len(decode([_map(cell, -8.0)], IDENTITY, _options(head))) == 1
    bigger = np.full((2 * (5 + NC), 8, 8), -8.0, np.float32)
    with pytest.raises(BundleError, match="map is 8x8 but bundle.json's head was written for 4x4"):
        decode([bigger], IDENTITY, _options(head))


def test_the_family_never_claims_a_model_by_its_shapes() -> None:
    family = get_family("yolo-anchors")
    spec = ModelSpec(
        inputs=(TensorSpec("images", (1, 3, 64, 64)),), outputs=(TensorSpec("y", (1, 14, 4, 4)),)
    )
    assert family.recognise(spec, Hints(num_names=2)) is None
    assert family.task == "detect"
