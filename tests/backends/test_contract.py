"""Every registered backend honours the same contract."""

from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import BACKENDS, Capabilities, backend_config, create_backend, parse_backend_config
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError, ConfigError
from tests.backends.models import contract_model


@pytest.mark.parametrize("name", BACKENDS.names())
def test_contract(name: str, yolo_bundle: Bundle, tmp_path: Path) -> None:
    cls = BACKENDS.get(name)
    assert isinstance(cls.available(), bool)
    if not cls.available():
        pytest.skip(f"{name} runtime not installed")
    backend = create_backend(parse_backend_config(name))
    assert backend.name == name
    caps = backend.capabilities()
    assert isinstance(caps, Capabilities) and caps.preferred_workers >= 1
    assert caps == parse_backend_config(name).capabilities()  # known before loading
    spec = backend.load(contract_model(name, yolo_bundle, tmp_path))
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
    with pytest.raises(ConfigError, match="unknown backend 'tpu9'.*onnxruntime"):
        parse_backend_config("tpu9")
    with pytest.raises(ConfigError, match="no 'type' key.*onnxruntime, openvino"):
        parse_backend_config({"device": "cpu"})
    with pytest.raises(ConfigError, match="--backend: unknown backend 'tpu9'; choose one of onnxruntime"):
        backend_config("tpu9")


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ConfigError, match=r"setting 'intra_op_threads': must be >= 0 \(got -1\)"):
        parse_backend_config({"type": "onnxruntime", "intra_op_threads": -1})
    with pytest.raises(ConfigError, match="invalid backend 'onnxruntime': setting 'devise': unknown setting"):
        parse_backend_config({"type": "onnxruntime", "devise": "cpu"})
    with pytest.raises(ConfigError) as caught:
        parse_backend_config({"type": "onnxruntime", "device": "gpu"})
    message = str(caught.value)
    assert "setting 'device': 'gpu' is not one of cpu, cuda" in message
    assert "errors.pydantic.dev" not in message


def test_onnxruntime_reads_spec_and_metadata(yolo_bundle: Bundle) -> None:
    backend = create_backend(parse_backend_config("onnxruntime"))
    spec = backend.load(yolo_bundle.model_path())
    assert spec.inputs[0].name == "images" and spec.inputs[0].shape == (1, 3, 640, 640)
    assert spec.outputs[0].shape == (1, 7, 400)
    assert spec.metadata["task"] == "detect"
    backend.close()


def test_onnxruntime_missing_provider_says_how_to_fix(yolo_bundle: Bundle) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is present here")
    backend = create_backend(parse_backend_config({"type": "onnxruntime", "device": "cuda"}))
    with pytest.raises(BackendError, match="onnxruntime-gpu.*--device cpu"):
        backend.load(yolo_bundle.model_path())
    backend.close()


def test_onnxruntime_auto_falls_back_to_cpu(yolo_bundle: Bundle) -> None:
    backend = create_backend(parse_backend_config({"type": "onnxruntime", "device": "auto"}))
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
        create_backend(parse_backend_config("onnxruntime")).load(bad)


def test_spinning_turns_off_when_sessions_share_a_process(yolo_bundle: Bundle) -> None:
    from edgeloop.backends import onnxruntime as ort_backend

    before = ort_backend._live_sessions
    a, b = (
        create_backend(parse_backend_config("onnxruntime")),
        create_backend(parse_backend_config("onnxruntime")),
    )
    a.load(yolo_bundle.model_path())
    b.load(yolo_bundle.model_path())
    assert ort_backend._live_sessions == before + 2
    assert b.spinning is False  # type: ignore[attr-defined]
    assert a.spinning is (before == 0)  # type: ignore[attr-defined]
    forced = create_backend(parse_backend_config({"type": "onnxruntime", "allow_spinning": True}))
    forced.load(yolo_bundle.model_path())
    assert forced.spinning is True  # type: ignore[attr-defined]
    forced.close()
    a.close()
    b.close()
    assert ort_backend._live_sessions == before
