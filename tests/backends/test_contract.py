"""Every registered backend honours the same contract."""

from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import BACKENDS, create_backend
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError


@pytest.mark.parametrize("name", BACKENDS.names())
def test_contract(name: str, yolo_bundle: Bundle) -> None:
    cls = BACKENDS.get(name)
    assert isinstance(cls.available(), bool)
    if not cls.available():
        pytest.skip(f"{name} runtime not installed")
    backend = create_backend(name)
    assert backend.name == name
    spec = backend.load(yolo_bundle.model_path())
    assert spec.inputs and spec.outputs
    shape = tuple(d if isinstance(d, int) else 1 for d in spec.inputs[0].shape)
    outputs = backend.infer({spec.inputs[0].name: np.zeros(shape, np.float32)})
    assert isinstance(outputs, list) and len(outputs) == len(spec.outputs)
    assert all(isinstance(o, np.ndarray) for o in outputs)
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(BackendError, match="load"):
        backend.infer({spec.inputs[0].name: np.zeros(shape, np.float32)})


def test_unknown_backend_lists_choices() -> None:
    with pytest.raises(BackendError, match="unknown backend 'tpu9'.*onnxruntime"):
        create_backend("tpu9")


def test_invalid_settings_are_named() -> None:
    with pytest.raises(BackendError, match="intra_op_threads"):
        create_backend("onnxruntime", intra_op_threads=-1)
    with pytest.raises(BackendError, match="invalid settings"):
        create_backend("onnxruntime", devise="cpu")


def test_onnxruntime_reads_spec_and_metadata(yolo_bundle: Bundle) -> None:
    backend = create_backend("onnxruntime")
    spec = backend.load(yolo_bundle.model_path())
    assert spec.inputs[0].name == "images" and spec.inputs[0].shape == (1, 3, 640, 640)
    assert spec.outputs[0].shape == (1, 7, 400)
    assert spec.metadata["task"] == "detect"
    backend.close()


def test_onnxruntime_missing_provider_says_how_to_fix(yolo_bundle: Bundle) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is present here")
    backend = create_backend("onnxruntime", device="cuda")
    with pytest.raises(BackendError, match="onnxruntime-gpu.*--device cpu"):
        backend.load(yolo_bundle.model_path())
    backend.close()


def test_onnxruntime_auto_falls_back_to_cpu(yolo_bundle: Bundle) -> None:
    backend = create_backend("onnxruntime", device="auto")
    backend.load(yolo_bundle.model_path())
    assert "CPUExecutionProvider" in backend.active_providers  # type: ignore[attr-defined]
    backend.close()


def test_tensorrt_options_enable_engine_cache(tmp_path: Path) -> None:
    from edgeloop.backends.cache import user_cache_dir
    from edgeloop.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeConfig

    backend = OnnxRuntimeBackend(OnnxRuntimeConfig(device="tensorrt", trt_fp16=True))
    opts = backend._provider_options("TensorrtExecutionProvider", tmp_path / "model.onnx")
    assert opts["trt_engine_cache_enable"] is True
    assert opts["trt_engine_cache_path"] == str(user_cache_dir("onnxruntime-tensorrt"))  # not the bundle
    assert opts["trt_fp16_enable"] is True


def test_corrupt_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(BackendError, match="could not load bad.onnx"):
        create_backend("onnxruntime").load(bad)


def test_spinning_turns_off_when_sessions_share_a_process(yolo_bundle: Bundle) -> None:
    from edgeloop.backends import onnxruntime as ort_backend

    before = ort_backend._live_sessions
    a, b = create_backend("onnxruntime"), create_backend("onnxruntime")
    a.load(yolo_bundle.model_path())
    b.load(yolo_bundle.model_path())
    assert ort_backend._live_sessions == before + 2
    assert b.spinning is False  # type: ignore[attr-defined]
    assert a.spinning is (before == 0)  # type: ignore[attr-defined]
    forced = create_backend("onnxruntime", allow_spinning=True)
    forced.load(yolo_bundle.model_path())
    assert forced.spinning is True  # type: ignore[attr-defined]
    forced.close()
    a.close()
    b.close()
    assert ort_backend._live_sessions == before
