"""The model file each backend's contract test loads: a backend that runs another format than
ONNX (ncnn, LiteRT, DepthAI) converts the shared test detector into it here, one line per backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeloop.bundle import Bundle

ModelMaker = Callable[[Bundle, Path], Path]
"""(the ONNX test detector's bundle, a scratch folder) -> the file ``Backend.load`` takes."""


def _onnx(bundle: Bundle, work: Path) -> Path:
    return bundle.model_path()


def _nn_archive(bundle: Bundle, work: Path) -> Path:
    """An RVC2 NN Archive needs a Myriad X blob, which only the OpenVINO 2022.3 container compiles
    (``edgeloop optimize --target myriad``): where a camera is connected the test bundle must
    carry one (``myriad/model.rvc2.tar.xz``)."""
    from edgeloop.export.myriad import ARCHIVE_FILE

    path = bundle.root / ARCHIVE_FILE
    if not path.exists():
        import pytest

        pytest.skip("no Myriad X blob for the test detector: build it with edgeloop optimize --target myriad")
    return path


def _litert(bundle: Bundle, work: Path) -> Path:
    """A small detector-shaped .tflite built with TensorFlow (.venv-refs) once per test session:
    the ONNX test detector cannot become a .tflite without TensorFlow in this environment."""
    from tests.convert.tf_artifacts import tf_models

    return tf_models() / "detector.tflite"


def _ncnn(bundle: Bundle, work: Path) -> Path:
    """The colour detector compares and casts (Greater, Cast), which ncnn has no layers for:
    ncnn's contract runs the random YOLO-style detector of the parity tests instead."""
    from edgeloop.export.ncnn import convert_onnx_to_ncnn
    from edgeloop.testing.onnx_models import random_yolo

    model = random_yolo(work / "random-yolo.onnx", imgsz=160, num_classes=3, width=0.25)
    param, _ = convert_onnx_to_ncnn(model, work / "ncnn")
    return param


MODEL_MAKERS: dict[str, ModelMaker] = {
    "depthai": _nn_archive,
    "onnxruntime": _onnx,
    "openvino": _onnx,
    "tensorrt": _onnx,
    "litert": _litert,
    "ncnn": _ncnn,
    "null": _onnx,
}


def contract_model(name: str, bundle: Bundle, work: Path) -> Path:
    """The model file backend ``name`` loads in its contract test."""
    return MODEL_MAKERS.get(name, _onnx)(bundle, work)
