"""OpenVINO backend: real runtime, parity with ONNX Runtime, IR and QDQ INT8 models."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import OpenVinoConfig, create_backend, parse_backend_config
from edgeloop.backends.openvino import import_openvino, runtime_api
from edgeloop.bundle import Bundle, load_bundle
from edgeloop.data.synth import synth_detection
from edgeloop.errors import BackendError, ConfigError
from edgeloop.importer import import_onnx
from edgeloop.predictor import Predictor
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.types import Detections

if importlib.util.find_spec("openvino") is None:
    pytest.skip("openvino not installed", allow_module_level=True)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy -> (N, M) IoU."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def matched(ours: Detections, theirs: Detections, iou: float = 0.95) -> int:
    """How many of ``ours`` have a box of the same class in ``theirs`` at IoU >= ``iou``."""
    if not len(ours) or not len(theirs):
        return 0
    ious = box_iou(ours.xyxy, theirs.xyxy)
    same = ours.class_id[:, None] == theirs.class_id[None, :]
    return int(((ious >= iou) & same).any(axis=1).sum())


@pytest.fixture(scope="module")
def random_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("ov")
    # class_bias -5: about a dozen boxes per image from random weights, so parity has boxes to compare.
    model = random_yolo(root / "ry.onnx", imgsz=320, class_bias=-5.0, width=0.5)
    return import_onnx(model, root / "bundle")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    ds = synth_detection(tmp_path_factory.mktemp("ovdata") / "ds", images=8, size=320, seed=3)
    return [item.image for item in ds.items]


def _parity(reference: Predictor, other: Predictor, images: list[Path]) -> tuple[int, int, int]:
    total = found = found_back = 0
    for image in images:
        a, b = reference.predict(image), other.predict(image)
        assert isinstance(a, Detections) and isinstance(b, Detections)
        total += len(a) + len(b)
        found += matched(a, b)
        found_back += matched(b, a)
    return total, found, found_back


def test_same_detections_as_onnxruntime(random_bundle: Bundle, images: list[Path]) -> None:
    with Predictor(random_bundle) as ort, Predictor(random_bundle, OpenVinoConfig()) as ov:
        assert ov.variant.file == "model.onnx"  # no IR variant: OpenVINO reads the ONNX file
        total, found, found_back = _parity(ort, ov, images)
    assert total >= 40, "the test model should find boxes"
    assert (found + found_back) / total >= 0.99


def test_ir_variant_is_preferred_and_matches(
    random_bundle: Bundle, images: list[Path], tmp_path: Path
) -> None:
    from edgeloop.optimize import OptimizeOptions, optimize

    report = optimize(random_bundle.root, tmp_path / "out", OptimizeOptions(openvino=True, latency_runs=3))
    assert [v.file for v in report.variants] == ["model.onnx", "openvino/model.xml"]
    bundle = load_bundle(tmp_path / "out")
    assert bundle.manifest.variant(backend="openvino").file == "openvino/model.xml"
    assert bundle.manifest.variant(backend="onnxruntime").file == "model.onnx"
    with Predictor(bundle) as ort, Predictor(bundle, OpenVinoConfig()) as ov:
        assert ov.variant.file == "openvino/model.xml"
        total, found, found_back = _parity(ort, ov, images)
    assert (found + found_back) / total >= 0.99


def test_runs_onnxruntime_qdq_int8(colour_int8: Path) -> None:
    backend = create_backend(parse_backend_config("openvino"))
    spec = backend.load(colour_int8)
    out = backend.infer({spec.inputs[0].name: np.zeros((1, 3, 320, 320), np.float32)})
    assert out[0].shape == (1, 7, 100)
    backend.close()


@pytest.fixture()
def colour_int8(tmp_path: Path) -> Path:
    from edgeloop.export.quantize import PreprocessCalibrationReader, quantize_int8
    from edgeloop.preprocess import InputSpec
    from edgeloop.testing.onnx_models import colour_detector

    model = colour_detector(tmp_path / "c.onnx", imgsz=(320, 320), stride=32, family="yolo")
    ds = synth_detection(tmp_path / "calib", images=2, size=320, seed=0)
    reader = PreprocessCalibrationReader([i.image for i in ds.items], InputSpec(size_hw=(320, 320)), "images")
    return quantize_int8(model, tmp_path / "c.int8.onnx", reader)


def test_unknown_device_says_what_exists(yolo_bundle: Bundle) -> None:
    backend = create_backend(parse_backend_config({"type": "openvino", "device": "NPU"}))
    if "NPU" in import_openvino().Core().available_devices:
        pytest.skip("an NPU is present here")
    with pytest.raises(BackendError, match="device 'NPU' not found.*available: .*CPU"):
        backend.load(yolo_bundle.model_path())


def test_myriad_says_where_its_plugin_is(yolo_bundle: Bundle) -> None:
    """OpenVINO releases after 2022.3 have no MYRIAD plugin: the error points at the ncs2 target."""
    config = parse_backend_config({"type": "openvino", "device": "myriad"})
    assert config.device == "MYRIAD"  # type: ignore[union-attr]
    ov = import_openvino()
    if "MYRIAD" in ov.Core().available_devices:
        pytest.skip("an NCS2 is present here")
    with pytest.raises(BackendError, match="device 'MYRIAD' not found.*OpenVINO 2022.3's archive only"):
        create_backend(config).load(yolo_bundle.model_path())


def test_api_module_of_this_release() -> None:
    """2023.1+ has Core at the top level (2022.3 in openvino.runtime, which runtime_api falls back to)."""
    import openvino

    assert runtime_api(openvino) is openvino and hasattr(import_openvino(), "Core")


def test_settings_become_properties() -> None:
    backend = create_backend(
        parse_backend_config(
            {"type": "openvino", "threads": 2, "performance_hint": "throughput", "cache_dir": "/tmp/x"}
        )
    )
    props = backend.properties()  # type: ignore[attr-defined]
    assert props == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": 2,
        "INFERENCE_PRECISION_HINT": "f32",
        "CACHE_DIR": "/tmp/x",
    }
    with pytest.raises(ConfigError, match="'openvino': setting 'device': .* is not one of CPU, GPU"):
        parse_backend_config({"type": "openvino", "device": "TPU"})


def test_no_telemetry(yolo_bundle: Bundle, tmp_path: Path) -> None:
    """``import openvino`` alone starts OpenVINO's usage telemetry; edgeloop's use of it never does."""
    code = f"""
import sys
from pathlib import Path
import numpy as np
from edgeloop.backends import create_backend, parse_backend_config
from edgeloop.backends.openvino import import_openvino, runtime_api
from edgeloop.export.openvino_ir import convert_to_ir
xml, weights = convert_to_ir(Path({str(yolo_bundle.model_path())!r}), Path({str(tmp_path / "m.xml")!r}))
backend = create_backend(parse_backend_config("openvino"))
backend.load(xml)
backend.infer({{"images": np.zeros((1, 3, 640, 640), np.float32)}})
assert weights.is_file()
import openvino_telemetry.main as tm
assert tm.Telemetry._SingletonMetaClass__single_instance is None, "telemetry was started"
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    # The check can fail: a plain import of openvino does start it.
    plain = (
        "import openvino, openvino_telemetry.main as t\n"
        "assert t.Telemetry._SingletonMetaClass__single_instance"
    )
    subprocess.run([sys.executable, "-c", plain], check=True, timeout=120)


@pytest.mark.hardware
@pytest.mark.parametrize("device", ["GPU", "NPU"])
def test_accelerator_parity(device: str, random_bundle: Bundle, images: list[Path]) -> None:
    """Untested here: needs an Intel GPU or NPU with its driver."""
    if device not in import_openvino().Core().available_devices:
        pytest.skip(f"no OpenVINO {device} here")
    config = OpenVinoConfig(device=device)  # type: ignore[arg-type]
    with Predictor(random_bundle) as ort, Predictor(random_bundle, config) as ov:
        total, found, found_back = _parity(ort, ov, images)
    assert (found + found_back) / total >= 0.95  # GPU/NPU run FP16
