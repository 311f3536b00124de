"""LiteRT backend specifics: INT8 quantization at the boundary, threads, the Edge TPU delegate's error."""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import LiteRtConfig, backend_config, create_backend, parse_backend_config
from edgeloop.backends.litert import EDGETPU_LIBRARY, dequantize_output, quantize_input
from edgeloop.errors import BackendError, ConfigError
from tests.convert.tf_artifacts import tf_models

pytest.importorskip("ai_edge_litert")


def test_quantize_rounds_and_saturates() -> None:
    detail = {"dtype": np.int8, "quantization": (0.5, -3)}
    q = quantize_input(np.array([0.0, 0.24, 0.26, 100.0, -100.0], np.float32), detail)
    assert q.dtype == np.int8 and q.tolist() == [-3, -3, -2, 127, -128]
    back = dequantize_output(q, detail)
    assert back.dtype == np.float32 and back.tolist() == [0.0, 0.0, 0.5, 65.0, -62.5]
    plain = {"dtype": np.float32, "quantization": (0.0, 0)}
    x = np.ones(3, np.float32)
    assert quantize_input(x, plain).dtype == np.float32
    assert np.array_equal(dequantize_output(quantize_input(x, plain), plain), x)


def test_int8_model_is_float_at_the_boundary() -> None:
    backend = create_backend(parse_backend_config("litert"))
    spec = backend.load(tf_models() / "detector_int8.tflite")
    assert spec.inputs[0].shape == (1, 64, 64, 3) and spec.inputs[0].dtype == "float32"
    assert spec.outputs[0].shape == (1, 7, 64) and spec.outputs[0].dtype == "float32"
    (out,) = backend.infer({spec.inputs[0].name: np.full((1, 64, 64, 3), 0.5, np.float32)})
    assert out.dtype == np.float32 and out.shape == (1, 7, 64)
    details = {d["name"]: d for d in backend.tensor_details()}  # type: ignore[attr-defined]
    assert details[spec.inputs[0].name]["dtype"] == np.int8
    backend.close()


def test_threads_flag_sets_num_threads() -> None:
    config = backend_config("litert", threads=2)
    assert isinstance(config, LiteRtConfig) and config.num_threads == 2 and config.cpu_threads == 2
    assert backend_config("litert", device="edgetpu").delegate == "edgetpu"  # type: ignore[union-attr]
    assert backend_config("litert", device="cpu").delegate == "cpu"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="--device: .*'gpu' is not one of cpu, edgetpu"):
        backend_config("litert", device="gpu")
    with pytest.raises(ConfigError, match="setting 'delegate'"):
        parse_backend_config({"type": "litert", "delegate": "gpu"})
    backend = create_backend(config)
    spec = backend.load(tf_models() / "detector.tflite")
    assert len(backend.infer({spec.inputs[0].name: np.zeros((1, 64, 64, 3), np.float32)})) == 1
    backend.close()


def test_edgetpu_delegate_without_its_library_says_how_to_fix() -> None:
    try:
        ctypes.CDLL(EDGETPU_LIBRARY)
    except OSError:
        pass
    else:
        pytest.skip("the Edge TPU runtime is installed here")
    backend = create_backend(backend_config("litert", device="edgetpu"))
    with pytest.raises(BackendError, match=r"could not load libedgetpu\.so\.1.*libedgetpu1-std"):
        backend.load(tf_models() / "detector.tflite")


def test_corrupt_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"TFL3" * 10)
    with pytest.raises(BackendError, match="could not load bad.tflite: The model is not a valid Flatbuffer"):
        create_backend(parse_backend_config("litert")).load(bad)
    with pytest.raises(BackendError, match="no such file"):
        create_backend(parse_backend_config("litert")).load(tmp_path / "missing.tflite")


def test_tensors_too_large_together_are_refused_before_allocation(tmp_path: Path) -> None:
    """Each tensor under the 2 GiB bound, ~2.7 GB in all: refused before LiteRT allocates them."""
    good = (tf_models() / "detector.tflite").read_bytes()
    big = struct.pack("<5i", 4, 1, 8192, 8192, 5)  # 1.25 GiB of float32
    crafted = good
    for dims in ((1, 64, 64, 3), (1, 32, 32, 8)):  # the input, and the first convolution's output
        shape = struct.pack("<5i", 4, *dims)  # a shape vector: its length, then the dims
        assert crafted.count(shape) == 1
        crafted = crafted.replace(shape, big)
    path = tmp_path / "big.tflite"
    path.write_bytes(crafted)
    with pytest.raises(BackendError, match="its tensors declare more than 2 GiB in all"):
        create_backend(parse_backend_config("litert")).load(path)
