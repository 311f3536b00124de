"""TensorRT backend: what can be checked without a GPU, and hardware tests that need one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import BACKENDS, TensorRtConfig, create_backend, parse_backend_config
from edgeloop.backends.tensorrt import TensorRtBackend, engine_cache_key
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError

HAVE_TRT = TensorRtBackend.available()
SHA = "ab" * 32


def test_cache_key_changes_with_everything_an_engine_depends_on() -> None:
    key = engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16")
    assert key.startswith("fp16-nvidia-jetson-orin-nano-sm87-trt10.3.0-") and key.endswith(".engine")
    assert key == engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16")
    others = {
        engine_cache_key("cd" * 32, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16"),
        engine_cache_key(SHA, "NVIDIA GeForce RTX 4090", (8, 9), "10.3.0", "fp16"),
        engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.4.0", "fp16"),
        engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "int8"),
    }
    assert key not in others and len(others) == 4
    assert "/" not in engine_cache_key(SHA, "A/B: C", (9, 0), "10.3.0", "fp32")


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_missing_tensorrt_says_how_to_install(yolo_bundle: Bundle) -> None:
    assert "tensorrt" in BACKENDS.names()
    assert TensorRtBackend.available() is False
    with pytest.raises(
        BackendError, match=r"backend 'tensorrt' unavailable here: pip install 'edgeloop\[tensorrt\]'"
    ):
        create_backend(parse_backend_config("tensorrt"))
    with pytest.raises(BackendError, match="NVIDIA GPU"):
        TensorRtBackend().load(yolo_bundle.model_path())
    TensorRtBackend().close()  # closing an unloaded backend is fine


def test_settings_are_validated() -> None:
    assert TensorRtBackend.Config(precision="int8").workspace_mb == 1024
    with pytest.raises(ValueError):
        TensorRtBackend.Config(precision="fp8")  # type: ignore[arg-type]


@pytest.mark.hardware
@pytest.mark.skipif(not HAVE_TRT, reason="needs TensorRT and an NVIDIA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_caches_and_matches_onnxruntime(
    precision: str, yolo_bundle: Bundle, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Untested on hardware so far: needs an NVIDIA GPU."""
    from edgeloop.predictor import Predictor

    config = TensorRtConfig(precision=precision, cache_dir=str(tmp_path))  # type: ignore[arg-type]
    with Predictor(yolo_bundle, config) as trt:
        assert "building TensorRT engine for model.onnx" in capfd.readouterr().err
        image = np.full((640, 640, 3), 128, np.uint8)
        image[64:192, 64:192] = (0, 0, 255)
        with Predictor(yolo_bundle) as ort:
            a, b = trt.predict(image), ort.predict(image)
    assert len(a) == len(b) == 1  # type: ignore[arg-type]
    assert list(tmp_path.glob("*.engine"))
    with Predictor(yolo_bundle, config):
        assert "building" not in capfd.readouterr().err  # second load hits the cache
