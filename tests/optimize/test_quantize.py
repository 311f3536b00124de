"""INT8 calibration feeds exactly what the Predictor feeds; the decode tail stays float."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.errors import ConfigError
from edgeloop.export.quantize import PreprocessCalibrationReader, QuantizeError, pick_images, tail_nodes
from edgeloop.predictor import Predictor
from edgeloop.preprocess import InputSpec
from edgeloop.testing.onnx_models import random_yolo


def test_reader_yields_the_predictor_tensors(colour_bundle: Bundle, colour_data: dict[str, Path]) -> None:
    images = sorted((colour_data["calib"] / "images").glob("*.png"))[:3]
    reader = PreprocessCalibrationReader(images, colour_bundle.manifest.input, "images")
    with Predictor(colour_bundle) as predictor:
        for image in images:
            feed = reader.get_next()
            assert feed is not None and list(feed) == ["images"]
            expected = predictor.prepare(predictor.load_image(image)).tensor
            np.testing.assert_array_equal(feed["images"], expected)
    assert reader.get_next() is None
    reader.rewind()
    assert reader.get_next() is not None


def test_pick_images_spreads_over_the_set() -> None:
    images = [Path(f"{i}.png") for i in range(10)]
    assert pick_images(images, 5) == [Path(f"{i}.png") for i in (0, 2, 4, 6, 8)]
    assert pick_images(images, 50) == images
    with pytest.raises(ConfigError):
        pick_images(images, 0)
    with pytest.raises(QuantizeError, match="no calibration images"):
        PreprocessCalibrationReader([], InputSpec(), "images")


def test_tail_is_the_box_decode(tmp_path: Path) -> None:
    from edgeloop.export.quantize import _named

    model = _named(random_yolo(tmp_path / "m.onnx", imgsz=64, width=0.25), tmp_path / "named.onnx")
    tail = tail_nodes(model)
    ops = {name.rsplit("_", 1)[0] for name in tail}
    assert {"Softmax", "ReduceSum", "Concat", "Sigmoid"} <= ops  # DFL, scores and the output concat
    assert "Conv" not in ops
    assert len(tail) == 40  # 13 decode nodes per level, 3 levels, and the final concat
