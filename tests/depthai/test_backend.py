"""The DepthAI backend without a camera: honest availability, one clear error where a device is
needed, settings. Pipeline construction past ``pipeline.create(NeuralNetwork)`` needs a device
(depthai refuses device nodes in a host-only pipeline): untested on hardware."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeloop.backends import backend_config, create_backend, parse_backend_config
from edgeloop.backends.depthai import DepthAiBackend, DepthAiConfig, build_pipeline, device_count
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError, ConfigError
from edgeloop.export.nn_archive import pack_nn_archive
from edgeloop.testing.components import need


@pytest.fixture()
def archive(yolo_bundle: Bundle, tmp_path: Path) -> Path:
    need(importlib.util.find_spec("depthai") is not None, "depthai")
    if device_count() > 0:
        pytest.skip("an OAK camera is connected: these tests are about running without one")
    model = tmp_path / "model.dlc"
    model.write_bytes(b"an RVC4 model depthai does not parse on the host")
    return pack_nn_archive(yolo_bundle, model, tmp_path / "model.rvc4.tar.xz")


def test_unavailable_without_a_camera(archive: Path) -> None:
    assert DepthAiBackend.available() is False
    hint = r"'depthai' unavailable here: pip install 'edgeloop\[depthai\]' and connect an OAK camera"
    with pytest.raises(BackendError, match=hint):
        create_backend(parse_backend_config("depthai"))


def test_load_without_a_camera_says_connect_one(archive: Path) -> None:
    backend = DepthAiBackend()
    with pytest.raises(BackendError, match="^no OAK device found: connect one"):
        backend.load(archive)
    with pytest.raises(BackendError, match="call load"):
        backend.infer({})
    backend.close()
    backend.close()


def test_pipeline_needs_a_device(archive: Path) -> None:
    with pytest.raises(BackendError, match=r"no OAK device found.*depthai: Pipeline is host only"):
        build_pipeline(archive, "RVC4")
    with pytest.raises(BackendError, match=r"no OAK device found.*depthai: Pipeline is host only"):
        build_pipeline(archive, "RVC4", camera=True)


def test_pipeline_checks_the_model_against_the_platform(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="runs on RVC4, not on this RVC2 camera"):
        build_pipeline(archive, "RVC2")
    blob = tmp_path / "model.blob"
    with pytest.raises(BackendError, match="Myriad X blob: it runs on RVC2 cameras, not RVC4"):
        build_pipeline(blob, "RVC4")
    with pytest.raises(BackendError, match="camera-fed pipeline needs an NN Archive"):
        build_pipeline(blob, "RVC2", camera=True)
    with pytest.raises(BackendError, match="depthai cannot read the NN Archive"):
        build_pipeline(tmp_path / "missing.tar.xz", "RVC2")


def test_load_refuses_other_files(tmp_path: Path) -> None:
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07")
    with pytest.raises(BackendError, match="loads Luxonis NN Archives"):
        DepthAiBackend().load(onnx)


def test_settings() -> None:
    config = backend_config("depthai", device="14442C10D13EABCE00")
    assert isinstance(config, DepthAiConfig) and config.device == "14442C10D13EABCE00"
    assert config.capabilities().preferred_workers == 1 and not config.capabilities().thread_safe
    with pytest.raises(ConfigError, match="cannot set a number of inference threads"):
        backend_config("depthai", threads=2)
    with pytest.raises(ConfigError, match="timeout_s"):
        parse_backend_config({"type": "depthai", "timeout_s": 0})


def test_depthai_picks_its_archive(yolo_bundle: Bundle) -> None:
    """``--backend depthai`` runs the bundle's NN Archive although it is FP16 and the default FP32."""
    base = yolo_bundle.manifest.variants[0]
    archive = {"file": "myriad/model.rvc2.tar.xz", "precision": "fp16", "backends": ["depthai"]}
    manifest = yolo_bundle.manifest.model_copy(update={"variants": [base, base.model_copy(update=archive)]})
    assert manifest.variant(backend="depthai").file == "myriad/model.rvc2.tar.xz"
    assert manifest.variant(backend="openvino").file == "model.onnx"
    assert manifest.variant(backend="onnxruntime").file == "model.onnx"
    assert manifest.variant("fp32", backend="depthai").file == "model.onnx"  # asked for: refused by its load


def test_settings_and_archives_import_no_depthai() -> None:
    code = (
        "import sys\nfrom edgeloop.backends import parse_backend_config\n"
        "import edgeloop.export.nn_archive, edgeloop.export.myriad\n"
        "parse_backend_config('depthai').capabilities()\n"
        "assert 'depthai' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0, result.stderr
