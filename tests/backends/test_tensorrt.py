"""TensorRT backend: what can be checked without a GPU, and hardware tests that need one.

The backend is untested on hardware so far; the profile, cache-key and cache-path
logic are pure functions checked here on any machine.
"""

from __future__ import annotations

import ast
import inspect
import logging
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import (
    BACKENDS,
    OnnxRuntimeConfig,
    create_backend,
    parse_backend_config,
    tensorrt_build,
    tensorrt_plan,
)
from edgeloop.backends import tensorrt as trt_backend
from edgeloop.backends.cache import user_cache_dir
from edgeloop.backends.tensorrt import TensorRtBackend, TensorRtConfig
from edgeloop.backends.tensorrt_plan import (
    ProfileSettings,
    cache_file,
    calibration_cache_key,
    calibration_shape,
    engine_cache_key,
    shape_range,
)
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError
from edgeloop.testing.onnx_models import colour_detector
from tests.blocked import run_without

HAVE_TRT = TensorRtBackend.available()
SHA = "ab" * 32


def test_cache_key_changes_with_everything_an_engine_depends_on() -> None:
    key = engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16", "p")
    assert key.startswith("fp16-nvidia-jetson-orin-nano-sm87-trt10.3.0-") and key.endswith(".engine")
    assert key == engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16", "p")
    others = {
        engine_cache_key("cd" * 32, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16", "p"),
        engine_cache_key(SHA, "NVIDIA GeForce RTX 4090", (8, 9), "10.3.0", "fp16", "p"),
        engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.4.0", "fp16", "p"),
        engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "int8", "p"),
        engine_cache_key(SHA, "NVIDIA Jetson Orin Nano", (8, 7), "10.3.0", "fp16", "q"),
    }
    assert key not in others and len(others) == 5
    assert "/" not in engine_cache_key(SHA, "A/B: C", (9, 0), "10.3.0", "fp32")


def test_profile_settings_are_part_of_the_key() -> None:
    labels = {
        TensorRtConfig().profile().label(),
        TensorRtConfig(max_batch=8).profile().label(),
        TensorRtConfig(max_batch=8, opt_batch=4).profile().label(),
        TensorRtConfig(opt_hw=(640, 640), max_hw=(1280, 1280)).profile().label(),
    }
    assert len(labels) == 4


def test_calibration_key_follows_model_version_and_images() -> None:
    key = calibration_cache_key(SHA, "10.3.0", ["a.jpg", "b.jpg"])
    assert key.startswith("int8-trt10.3.0-") and key.endswith(".calib")
    assert key == calibration_cache_key(SHA, "10.3.0", ["a.jpg", "b.jpg"])
    assert key != calibration_cache_key(SHA, "10.3.0", ["a.jpg"])
    assert key != calibration_cache_key("cd" * 32, "10.3.0", ["a.jpg", "b.jpg"])
    assert key != calibration_cache_key(SHA, "10.4.0", ["a.jpg", "b.jpg"])


def onnx_input_as_tensorrt_sees_it(model: Path) -> tuple[str, tuple[int, ...]]:
    """The first input's name and shape, with -1 on named (dynamic) axes as TensorRT reports them."""
    import onnx

    graph_input = onnx.load(str(model)).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    return graph_input.name, tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)


def test_the_dynamic_batch_of_an_exported_model_gets_a_profile(tmp_path: Path) -> None:
    name, shape = onnx_input_as_tensorrt_sees_it(
        colour_detector(tmp_path / "m.onnx", imgsz=(320, 320), dynamic_batch=True)
    )
    assert shape == (-1, 3, 320, 320)  # what edgeloop export writes: a named batch axis
    single = shape_range(name, shape, TensorRtConfig().profile())
    assert (single.min, single.opt, single.max) == ((1, 3, 320, 320),) * 3
    assert not single.dynamic and single.reported() == (1, 3, 320, 320)
    batched = shape_range(name, shape, TensorRtConfig(max_batch=8, opt_batch=4).profile())
    assert batched.min == (1, 3, 320, 320)
    assert batched.opt == (4, 3, 320, 320)
    assert batched.max == (8, 3, 320, 320)
    assert batched.dynamic and batched.reported() == (None, 3, 320, 320)
    assert batched.accepts((5, 3, 320, 320)) and not batched.accepts((9, 3, 320, 320))
    assert not batched.accepts((1, 3, 320, 321)) and not batched.accepts((1, 3, 320))
    assert batched.describe() == "(1..8, 3, 320, 320)"
    assert calibration_shape(batched) == (1, 3, 320, 320)


def test_fixed_models_keep_their_shape() -> None:
    fixed = shape_range("images", (1, 3, 640, 640), ProfileSettings(max_batch=8))
    assert fixed.min == fixed.opt == fixed.max == (1, 3, 640, 640)


@pytest.mark.parametrize(
    "shape,hw_axes",
    [((-1, 3, -1, -1), (2, 3)), ((1, -1, -1, 3), (1, 2))],  # NCHW, NHWC
)
def test_dynamic_height_and_width_come_from_the_settings(shape: tuple[int, ...], hw_axes: tuple) -> None:
    settings = TensorRtConfig(max_batch=2, min_hw=(320, 256), opt_hw=(640, 512), max_hw=(1280, 1024))
    r = shape_range("images", shape, settings.profile())
    h, w = hw_axes
    assert (r.min[h], r.min[w]) == (320, 256)
    assert (r.opt[h], r.opt[w]) == (640, 512)
    assert (r.max[h], r.max[w]) == (1280, 1024)
    no_min = shape_range("images", shape, TensorRtConfig(opt_hw=(640, 640), max_hw=(960, 960)).profile())
    assert (no_min.min[h], no_min.min[w]) == (640, 640)  # min defaults to opt


def test_unsized_dynamic_axes_say_what_to_set() -> None:
    with pytest.raises(BackendError, match=r"dynamic height: set opt_hw and max_hw"):
        shape_range("images", (1, 3, -1, 640), ProfileSettings())
    with pytest.raises(BackendError, match="dynamic axis 1 edgeloop cannot size"):
        shape_range("images", (1, -1, 640, 640), ProfileSettings())


def test_settings_are_validated() -> None:
    assert TensorRtBackend.Config(precision="int8").workspace_mb == 1024
    with pytest.raises(ValueError):
        TensorRtBackend.Config(precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="opt_batch 4 is above max_batch 2"):
        TensorRtConfig(max_batch=2, opt_batch=4)
    with pytest.raises(ValueError, match="min_hw <= opt_hw <= max_hw"):
        TensorRtConfig(opt_hw=(640, 640), max_hw=(320, 640))
    with pytest.raises(ValueError):
        TensorRtConfig(opt_hw=(0, 640), max_hw=(640, 640))


def test_cache_lives_in_the_user_cache_not_the_bundle(tmp_path: Path, yolo_bundle: Bundle) -> None:
    assert user_cache_dir("tensorrt", env={"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "edgeloop/tensorrt"
    home = tmp_path / "home"
    for env in ({}, {"XDG_CACHE_HOME": "relative/dir"}, {"XDG_CACHE_HOME": ""}):  # relative: ignored (XDG)
        assert user_cache_dir("tensorrt", env=env, home=home) == home / ".cache/edgeloop/tensorrt"
    assert TensorRtConfig().cache_folder() == user_cache_dir("tensorrt")
    assert TensorRtConfig(cache_dir=str(tmp_path / "c")).cache_folder() == tmp_path / "c"
    model = yolo_bundle.model_path()
    engine = cache_file(tmp_path / "c", model, "fp16-x.engine")
    assert engine == (tmp_path / "c" / f"{model.stem}.fp16-x.engine").resolve()
    for inside in (yolo_bundle.root, yolo_bundle.root / "trt_cache"):
        with pytest.raises(BackendError, match="inside the bundle"):
            cache_file(inside, model, "fp16-x.engine")


def test_a_bare_model_folder_may_hold_its_cache(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"  # no bundle.json: nothing to keep pristine
    assert cache_file(tmp_path / "cache", model, "k").parent == (tmp_path / "cache").resolve()


def test_module_imports_and_instantiates_without_tensorrt() -> None:
    code = """
import edgeloop.backends.tensorrt as t, edgeloop.backends.tensorrt_build, edgeloop.backends.tensorrt_plan
backend = t.TensorRtBackend(t.TensorRtConfig(max_batch=4, opt_hw=(640, 640), max_hw=(960, 960)))
assert backend.available() is False
assert backend.config.profile().max_batch == 4 and backend.config.cache_folder().name == "tensorrt"
backend.close()
"""
    result = run_without(("tensorrt", "cuda"), code)
    assert result.returncode == 0, result.stderr


def test_library_code_never_prints() -> None:
    for module in (trt_backend, tensorrt_build, tensorrt_plan):
        tree = ast.parse(inspect.getsource(module))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert not [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "print"], module
        assert "sys.stderr" not in inspect.getsource(module) and "sys.stdout" not in inspect.getsource(module)


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


def _bundle_files(bundle: Bundle) -> set[Path]:
    return {p for p in bundle.root.rglob("*")}


@pytest.mark.hardware
@pytest.mark.skipif(not HAVE_TRT, reason="needs TensorRT and an NVIDIA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_builds_caches_and_matches_onnxruntime(
    precision: str, yolo_bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Untested on hardware so far: needs an NVIDIA GPU."""
    from edgeloop.predictor import Predictor

    before = _bundle_files(yolo_bundle)
    config = TensorRtConfig(precision=precision, cache_dir=str(tmp_path))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="edgeloop.backends.tensorrt")
    with Predictor(yolo_bundle, config) as trt:
        assert "building a TensorRT engine" in caplog.text
        image = np.full((640, 640, 3), 128, np.uint8)
        image[64:192, 64:192] = (0, 0, 255)
        with Predictor(yolo_bundle) as ort:
            a, b = trt.predict(image), ort.predict(image)
    assert len(a) == len(b) == 1  # type: ignore[arg-type]
    assert list(tmp_path.glob("*.engine"))
    caplog.clear()
    with Predictor(yolo_bundle, config):
        assert "building" not in caplog.text  # second load hits the cache
    assert _bundle_files(yolo_bundle) == before  # nothing written into the bundle


@pytest.mark.hardware
@pytest.mark.skipif(not HAVE_TRT, reason="needs TensorRT and an NVIDIA GPU")
def test_dynamic_batch_runs_each_batch_size_like_onnxruntime(tmp_path: Path) -> None:
    """Untested on hardware so far: an exported-style model (dynamic batch) at batch 1, 3 and 4."""
    model = colour_detector(tmp_path / "m.onnx", imgsz=(320, 320), dynamic_batch=True)
    trt = create_backend(TensorRtConfig(precision="fp32", max_batch=4, cache_dir=str(tmp_path / "cache")))
    ort = create_backend(OnnxRuntimeConfig())
    spec = trt.load(model)
    ort.load(model)
    assert spec.inputs[0].shape == (None, 3, 320, 320)
    rng = np.random.default_rng(0)
    for batch in (1, 3, 4):
        x = {"images": rng.random((batch, 3, 320, 320), dtype=np.float32)}
        np.testing.assert_allclose(trt.infer(x)[0], ort.infer(x)[0], atol=1e-3)
    with pytest.raises(BackendError, match=r"this engine takes \(1\.\.4, 3, 320, 320\)"):
        trt.infer({"images": np.zeros((5, 3, 320, 320), np.float32)})
    trt.close()
    ort.close()
