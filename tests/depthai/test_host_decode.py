"""Host-side decoding: outputs as an OAK camera returns them (FP16 ``dai.NNData``, channel-last or
flat) -> the backend's conversion to the archive's shapes -> the bundle's family decoder ->
the same results as ONNX Runtime on the same input. Inputs: the ``ImgFrame`` a compiled model takes.

The messages are depthai's own objects made on the host (no camera needed); FP16 storage is
depthai's (``NNData.addTensor`` keeps float tensors as FP16, as the camera's results are)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeloop.backends import parse_backend_config
from edgeloop.backends.depthai_io import fit_output, input_message, model_spec, outputs_from_nndata, to_pixels
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError
from edgeloop.export.nn_archive import archive_config
from edgeloop.postprocess.nms import box_iou_one_to_many
from edgeloop.predictor import Predictor
from edgeloop.preprocess import preprocess
from edgeloop.testing.components import need
from edgeloop.types import Classification, Detections, TensorSpec
from tests.conftest import scene_640x480


@pytest.fixture(scope="module")
def dai() -> Any:
    need(importlib.util.find_spec("depthai") is not None, "depthai")
    import depthai

    return depthai


def _camera_message(dai: Any, outputs: list[np.ndarray], names: list[str], flat: bool) -> Any:
    message = dai.NNData()
    for name, out in zip(names, outputs, strict=True):
        half = out.astype(np.float16)
        message.addTensor(name, half.reshape(-1) if flat else half, dai.TensorInfo.DataType.FP16)
    return message


def _assert_same_detections(got: Detections, want: Detections) -> None:
    assert len(want) > 0 and len(got) == len(want)
    for box, conf, cls in zip(want.xyxy, want.confidence, want.class_id, strict=True):
        iou = box_iou_one_to_many(box, got.xyxy)
        best = int(np.argmax(iou))
        assert iou[best] >= 0.95 and got.class_id[best] == cls
        assert abs(float(got.confidence[best]) - float(conf)) <= 0.01


@pytest.mark.parametrize("flat", [False, True], ids=["shaped", "flat"])
def test_camera_outputs_decode_like_onnxruntime(dai: Any, detector_bundle: Bundle, flat: bool) -> None:
    with Predictor(detector_bundle, parse_backend_config("onnxruntime")) as predictor:
        prepared = predictor.prepare(scene_640x480())
        raw = predictor.infer(prepared.tensor)
        want = predictor.finish(raw, prepared)
        specs = model_spec(archive_config(detector_bundle, "model.blob")).outputs
        assert [s.name for s in specs] == [s.name for s in predictor.model_spec.outputs]
        message = _camera_message(dai, raw, [s.name for s in specs], flat)
        outputs = outputs_from_nndata(message, specs)
        assert [o.shape for o in outputs] == [r.shape for r in raw]
        assert all(o.dtype == np.float32 for o in outputs)
        got = predictor.finish(outputs, prepared)
    assert isinstance(got, Detections) and isinstance(want, Detections)
    _assert_same_detections(got, want)


def test_classifier_from_camera_outputs(dai: Any, classify_bundle: Bundle) -> None:
    with Predictor(classify_bundle, parse_backend_config("onnxruntime")) as predictor:
        prepared = predictor.prepare(scene_640x480())
        raw = predictor.infer(prepared.tensor)
        want = predictor.finish(raw, prepared)
        specs = model_spec(archive_config(classify_bundle, "model.blob")).outputs
        message = _camera_message(dai, raw, ["output0"], False)
        got = predictor.finish(outputs_from_nndata(message, specs), prepared)
    assert isinstance(got, Classification) and isinstance(want, Classification)
    assert int(np.argmax(got.probabilities)) == int(np.argmax(want.probabilities))
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=2e-3)


def test_channel_last_outputs_move_back(dai: Any) -> None:
    rng = np.random.default_rng(0)
    nchw = rng.standard_normal((1, 6, 5, 4)).astype(np.float32)
    message = dai.NNData()
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    message.addTensor("feat", nhwc, dai.TensorInfo.StorageOrder.NHWC)
    (out,) = outputs_from_nndata(message, (TensorSpec("feat", (1, 6, 5, 4)),))
    np.testing.assert_allclose(out, nchw, atol=2e-3)  # FP16 storage
    hwc = nchw[0].transpose(1, 2, 0)
    np.testing.assert_array_equal(fit_output(hwc, "HWC", TensorSpec("f", (1, 6, 5, 4))), nchw)


def test_mismatched_outputs_are_clear(dai: Any) -> None:
    with pytest.raises(BackendError, match=r"returned \(10,\) for output 'out'.*does not match its model"):
        fit_output(np.zeros(10, np.float32), "C", TensorSpec("out", (1, 7, 2)))
    message = dai.NNData()
    message.addTensor("a", np.zeros((1, 4), np.float16), dai.TensorInfo.DataType.FP16)
    message.addTensor("b", np.zeros((1, 4), np.float16), dai.TensorInfo.DataType.FP16)
    with pytest.raises(BackendError, match="no output 'out' \\(it has a, b\\)"):
        outputs_from_nndata(message, (TensorSpec("out", (1, 4)),))


def test_compiled_input_gets_the_letterboxed_pixels(dai: Any, yolo_bundle: Bundle) -> None:
    """A blob compiled with -ip U8 and the normalization inside takes the pixels themselves."""
    spec = yolo_bundle.manifest.input
    image = scene_640x480()
    tensor, _ = preprocess(image, spec)
    pixels, _ = preprocess(image, spec.model_copy(update={"dtype": "uint8"}))
    (first,) = archive_config(yolo_bundle, "model.blob")["model"]["inputs"]
    np.testing.assert_array_equal(to_pixels(tensor, first), pixels)
    frame = input_message(dai, tensor, first)
    assert isinstance(frame, dai.ImgFrame) and frame.getType() == dai.ImgFrame.Type.RGB888p
    assert (frame.getWidth(), frame.getHeight()) == (640, 640)
    np.testing.assert_array_equal(np.asarray(frame.getData()).reshape(pixels.shape), pixels)
    frame.setSequenceNum(7)  # what infer() numbers its requests with
    assert frame.getSequenceNum() == 7


def test_float_input_is_sent_as_fp16_tensor(dai: Any, yolo_bundle: Bundle, tmp_path: Path) -> None:
    (first,) = archive_config(yolo_bundle, "model.onnx")["model"]["inputs"]
    tensor, _ = preprocess(scene_640x480(), yolo_bundle.manifest.input)
    message = input_message(dai, tensor, first)
    assert isinstance(message, dai.NNData) and message.getAllLayerNames() == ["images"]
    np.testing.assert_allclose(message.getTensor("images"), tensor, atol=1e-3)
