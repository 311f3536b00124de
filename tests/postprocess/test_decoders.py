"""Decoders on hand-made raw outputs with known answers."""

import numpy as np
import pytest

from edgeloop.postprocess import DECODERS, DecodeOptions
from edgeloop.preprocess import Transform
from edgeloop.types import Classification

IDENTITY = Transform((1.0, 1.0), (0.0, 0.0), (640, 640))
NAMES = ("a", "b", "c")


def anchor_free(rows: list[list[float]], n_pad: int = 10) -> np.ndarray:
    """(4 + nc, N) from rows of cx, cy, w, h, scores..., padded with empty anchors."""
    data = np.array(rows + [[0.0] * len(rows[0])] * n_pad, np.float32)
    return data.T.copy()


def test_yolo_anchor_free_decode_nms_and_class() -> None:
    out = anchor_free(
        [
            [100, 100, 20, 40, 0.1, 0.9, 0.0],  # class 1, kept
            [101, 100, 20, 40, 0.0, 0.8, 0.0],  # duplicate of the first, suppressed
            [101, 100, 20, 40, 0.0, 0.0, 0.6],  # same place, other class: kept (class-aware)
            [300, 300, 10, 10, 0.2, 0.0, 0.0],  # below conf
        ]
    )
    d = DECODERS.get("yolo")([out], IDENTITY, DecodeOptions(conf=0.25, iou=0.7, names=NAMES))
    assert d.class_id.tolist() == [1, 2]
    assert d.xyxy[0].tolist() == [90, 80, 110, 120]
    assert d.confidence.tolist() == pytest.approx([0.9, 0.6])
    assert d.names == NAMES


def test_yolo_accepts_transposed_output_and_options() -> None:
    out = anchor_free([[100, 100, 20, 40, 0.1, 0.9, 0.0], [101, 100, 20, 40, 0.0, 0.0, 0.6]])
    decode = DECODERS.get("yolo")
    assert len(decode([out.T.copy()], IDENTITY, DecodeOptions(names=NAMES))) == 2
    assert len(decode([out], IDENTITY, DecodeOptions(names=NAMES, agnostic=True))) == 1
    assert decode([out], IDENTITY, DecodeOptions(names=NAMES, classes=(2,))).class_id.tolist() == [2]
    assert len(decode([out], IDENTITY, DecodeOptions(names=NAMES, max_det=1))) == 1
    assert len(decode([out], IDENTITY, DecodeOptions(names=NAMES, conf=0.95))) == 0


def test_boxes_mapped_back_to_original() -> None:
    out = anchor_free([[320, 320, 640, 480, 0.9, 0.0, 0.0]])
    t = Transform((1.0, 1.0), (0.0, 80.0), (640, 480))
    d = DECODERS.get("yolo")([out], t, DecodeOptions(names=NAMES))
    assert d.xyxy[0].tolist() == [0, 0, 640, 480]


def test_yolov5_multiplies_objectness() -> None:
    rows = np.array(
        [
            [100, 100, 20, 20, 0.9, 0.1, 0.9, 0.0],  # conf 0.81 class 1
            [300, 300, 20, 20, 0.5, 0.4, 0.0, 0.0],  # conf 0.2 < 0.25 dropped
            [500, 500, 20, 20, 0.1, 1.0, 0.0, 0.0],  # objectness below conf
        ],
        np.float32,
    )
    d = DECODERS.get("yolov5")([rows], IDENTITY, DecodeOptions(names=NAMES))
    assert d.class_id.tolist() == [1]
    assert d.confidence[0] == pytest.approx(0.81)
    assert d.xyxy[0].tolist() == [90, 90, 110, 110]


def test_end_to_end_filters_without_nms() -> None:
    rows = np.array(
        [
            [10, 10, 50, 50, 0.9, 2],
            [11, 11, 50, 50, 0.8, 2],  # overlapping, still kept: the model already did NMS
            [0, 0, 5, 5, 0.1, 0],
        ],
        np.float32,
    )
    d = DECODERS.get("yolo-e2e")([rows], IDENTITY, DecodeOptions(names=NAMES))
    assert d.class_id.tolist() == [2, 2]
    assert d.xyxy[1].tolist() == [11, 11, 50, 50]


def test_classify_logits_and_probabilities() -> None:
    decode = DECODERS.get("classify")
    logits = decode([np.array([1.0, 3.0, 0.0], np.float32)], IDENTITY, DecodeOptions(names=NAMES))
    assert isinstance(logits, Classification) and logits.class_id == 1
    assert logits.probabilities.sum() == pytest.approx(1.0)
    probs = decode([np.array([0.2, 0.5, 0.3], np.float32)], IDENTITY, DecodeOptions(names=NAMES))
    assert probs.confidence == pytest.approx(0.5)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="2-D"):
        DECODERS.get("yolo")([np.zeros((1, 7, 10), np.float32)], IDENTITY, DecodeOptions())
