"""The whole inference path on real ONNX Runtime sessions with known answers."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.backends import OnnxRuntimeConfig
from edgeloop.backends import onnxruntime as ort_backend
from edgeloop.backends.null import NullBackend, NullConfig
from edgeloop.bundle import Bundle
from edgeloop.errors import BundleError, ImageError
from edgeloop.imaging import encode_jpeg
from edgeloop.predictor import Predictor
from edgeloop.types import Classification, Detections
from tests.conftest import scene_640x480


def test_detectors_find_the_squares_in_original_pixels(detector_bundle: Bundle) -> None:
    with Predictor(detector_bundle) as predictor:
        result = predictor.predict(scene_640x480())
    assert isinstance(result, Detections)
    # The 640x480 image is letterboxed 80 px down; boxes must come back in image pixels.
    assert result.class_id.tolist() == [0, 1]
    assert result.xyxy.tolist() == [[64, 48, 192, 176], [352, 240, 480, 336]]
    assert (result.confidence > 0.99).all()


def test_boxes_map_back_through_scaling(yolo_bundle: Bundle) -> None:
    # 1280x960 is letterboxed at gain 0.5 with 80 px bars top and bottom.
    image = cv2.resize(scene_640x480(), (1280, 960), interpolation=cv2.INTER_NEAREST)
    with Predictor(yolo_bundle) as predictor:
        result = predictor.predict(image)
    assert isinstance(result, Detections)
    np.testing.assert_allclose(result.xyxy, [[128, 96, 384, 352], [704, 480, 960, 672]], atol=1e-3)


def test_inputs_bytes_path_and_array_agree(yolo_bundle: Bundle, tmp_path: Path) -> None:
    image = scene_640x480()
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), image)
    with Predictor(yolo_bundle) as predictor:
        a = predictor.predict(image)
        b = predictor.predict(path)
        c = predictor.predict(path.read_bytes())
        assert isinstance(a, Detections) and isinstance(b, Detections) and isinstance(c, Detections)
        assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.xyxy, c.xyxy)
        jpeg = predictor.predict(encode_jpeg(image, 95))
        assert isinstance(jpeg, Detections) and len(jpeg) == len(a)


def test_options_override_defaults(yolo_bundle: Bundle) -> None:
    with Predictor(yolo_bundle) as predictor:
        everything = predictor.predict(scene_640x480())
        only_green = predictor.predict(scene_640x480(), predictor.options(classes=[1]))
        few = predictor.predict(scene_640x480(), predictor.options(max_det=1))
        assert isinstance(everything, Detections) and isinstance(only_green, Detections)
        assert set(only_green.class_id.tolist()) == {1}
        assert len(few) == 1 and len(everything) == 2


def test_grey_and_bgra_arrays(yolo_bundle: Bundle) -> None:
    with Predictor(yolo_bundle) as predictor:
        grey = predictor.predict(np.full((100, 100), 128, np.uint8))
        bgra = predictor.predict(np.dstack([scene_640x480(), np.full((480, 640), 255, np.uint8)]))
        assert len(grey) == 0 and len(bgra) == 2  # type: ignore[arg-type]
        with pytest.raises(ImageError, match="uint8"):
            predictor.predict(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
        with pytest.raises(ImageError, match="HxWx3"):
            predictor.predict(np.zeros((10, 10, 5), np.uint8))


def test_classifier(classify_bundle: Bundle) -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    image[:] = (255, 0, 0)  # blue in BGR
    with Predictor(classify_bundle) as predictor:
        result = predictor.predict(image)
    assert isinstance(result, Classification)
    assert result.class_name(result.class_id) == "blue" and result.confidence > 0.9


def test_timing_has_every_stage(yolo_bundle: Bundle) -> None:
    with Predictor(yolo_bundle) as predictor:
        _, timing = predictor.predict_timed(encode_jpeg(scene_640x480()))
    assert min(timing.decode_s, timing.preprocess_s, timing.infer_s, timing.postprocess_s) > 0
    assert timing.total_s == pytest.approx(
        timing.decode_s + timing.preprocess_s + timing.infer_s + timing.postprocess_s
    )


def test_null_backend_runs_the_same_path(yolo_bundle: Bundle) -> None:
    backend = NullBackend(NullConfig(input_shape=(1, 3, 640, 640), output_shapes=[(1, 7, 4)]))
    with Predictor(yolo_bundle, backend=backend) as predictor:
        raw = np.zeros((1, 7, 4), np.float32)
        raw[0, :, 0] = [320, 320, 64, 64, 0.0, 0.0, 0.95]  # one blue box in the middle
        backend.set_outputs([raw])
        result = predictor.predict(scene_640x480())
    assert isinstance(result, Detections)
    assert result.class_id.tolist() == [2]
    assert result.xyxy[0].tolist() == [288, 208, 352, 272]  # centre (320, 240) in the 640x480 image


def test_size_mismatch_between_manifest_and_model(yolo_bundle: Bundle) -> None:
    backend = NullBackend(NullConfig(input_shape=(1, 3, 320, 320)))
    with pytest.raises(BundleError, match=r"input.size_hw \[640, 640\] does not match .* \[320, 320\]"):
        Predictor(yolo_bundle, backend=backend)


def test_a_backend_it_made_is_closed_when_the_bundle_is_refused(yolo_bundle: Bundle) -> None:
    """A session left open would count as live: later ones would be made without spinning."""
    spec = yolo_bundle.manifest.input.model_copy(update={"size_hw": (320, 320)})
    bundle = Bundle(yolo_bundle.root, yolo_bundle.manifest.model_copy(update={"input": spec}))
    before = ort_backend._live_sessions
    with pytest.raises(BundleError, match="does not match the model's input"):
        Predictor(bundle, OnnxRuntimeConfig())
    assert ort_backend._live_sessions == before


def test_fast_decode_maps_boxes_to_the_full_image(yolo_bundle: Bundle, tmp_path: Path) -> None:
    # 2560x1920 letterboxes at gain 0.25 into 640x480: a JPEG can be decoded at 1/4 size.
    big = cv2.resize(scene_640x480(), (2560, 1920), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    with Predictor(yolo_bundle, fast_decode=True) as fast, Predictor(yolo_bundle) as exact:
        array, size_wh = fast._load(path)
        assert array.shape == (480, 640, 3) and size_wh == (2560, 1920)
        a, b = fast.predict(path), exact.predict(path)
    assert isinstance(a, Detections) and isinstance(b, Detections)
    np.testing.assert_allclose(a.xyxy, [[256, 192, 768, 704], [1408, 960, 1920, 1344]], atol=1e-3)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
