"""The ncnn backend and the ONNX -> ncnn conversion: real pnnx, real ncnn, compared with ONNX Runtime."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeloop.backends import NcnnConfig, OnnxRuntimeConfig, backend_config, create_backend
from edgeloop.backends.config import sharing_process
from edgeloop.bundle import Bundle
from edgeloop.errors import BackendError, ConfigError
from edgeloop.optimize import OptimizeOptions, optimize
from edgeloop.testing.parity import compare_runtimes, need_ncnn, parity_detector, parity_images


@pytest.fixture(scope="module")
def ncnn_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bundle]:
    need_ncnn(convert=True)
    root = tmp_path_factory.mktemp("ncnn")
    made = {}
    for family in ("yolo", "yolov5"):
        source = parity_detector(root / family, family)
        options = OptimizeOptions(ncnn=True, latency_runs=3, progress=False)
        made[family] = optimize(source.root, root / f"{family}-ncnn", options)
    from edgeloop.bundle import load_bundle

    return {family: load_bundle(report.out) for family, report in made.items()}


@pytest.mark.parametrize("family", ["yolo", "yolov5"])
def test_ncnn_reproduces_onnxruntime_detections(family: str, ncnn_bundles: dict[str, Bundle]) -> None:
    match = compare_runtimes(ncnn_bundles[family], NcnnConfig(), parity_images(4, seed=1), iou=0.95)
    print(
        f"{family}: ncnn matched {match.matched}/{match.total} ONNX Runtime boxes at IoU >= 0.95, "
        f"max confidence difference {match.max_conf_diff:.2g}"
    )
    assert match.total >= 200  # a healthy number of boxes, not a vacuous pass
    assert match.ratio >= 0.99
    assert match.max_conf_diff < 0.01


def test_outputs_have_the_onnx_names_and_shapes(ncnn_bundles: dict[str, Bundle]) -> None:
    bundle = ncnn_bundles["yolov5"]
    ncnn = create_backend(NcnnConfig(threads=1))
    ort = create_backend(OnnxRuntimeConfig(intra_op_threads=1))
    spec = ncnn.load(bundle.model_path("fp32", "ncnn"))
    onnx_spec = ort.load(bundle.model_path("fp32", "onnxruntime"))
    assert [(t.name, t.shape) for t in spec.inputs] == [(t.name, t.shape) for t in onnx_spec.inputs]
    assert [(t.name, t.shape) for t in spec.outputs] == [(t.name, t.shape) for t in onnx_spec.outputs]
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    (got,), (want,) = ncnn.infer({"images": x}), ort.infer({"images": x})
    assert got.shape == want.shape == (1, 2100, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    with pytest.raises(BackendError, match=r"batch 1.*\(2, 3, 320, 320\)"):
        ncnn.infer({"images": np.zeros((2, 3, 320, 320), np.float32)})
    with pytest.raises(BackendError, match="no input named 'images'"):
        ncnn.infer({"x": x})
    ncnn.close()
    ort.close()


def test_calls_from_several_threads_agree(ncnn_bundles: dict[str, Bundle]) -> None:
    backend = create_backend(NcnnConfig(threads=1))
    backend.load(ncnn_bundles["yolo"].model_path("fp32", "ncnn"))
    inputs = [np.random.default_rng(i).random((1, 3, 320, 320), dtype=np.float32) for i in range(4)]
    alone = [backend.infer({"images": x})[0] for x in inputs]
    together: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        for _ in range(3):
            together[i] = backend.infer({"images": inputs[i]})[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(together[i], alone[i])
    assert backend.capabilities().thread_safe and not backend.capabilities().dynamic_shapes
    backend.close()


def test_param_without_its_map_uses_blob_names(ncnn_bundles: dict[str, Bundle], tmp_path: Path) -> None:
    param = ncnn_bundles["yolo"].model_path("fp32", "ncnn")
    shutil.copyfile(param, tmp_path / "m.param")
    shutil.copyfile(param.with_suffix(".bin"), tmp_path / "m.bin")
    backend = create_backend(NcnnConfig())
    spec = backend.load(tmp_path / "m.param")
    assert [t.name for t in spec.inputs] == ["in0"] and [t.name for t in spec.outputs] == ["out0"]
    (out,) = backend.infer({"in0": np.zeros((1, 3, 320, 320), np.float32)})
    assert out.shape == (1, 7, 2100)  # ncnn's (7, 2100) with the batch axis back
    backend.close()


def test_damaged_files_are_clear_errors(ncnn_bundles: dict[str, Bundle], tmp_path: Path) -> None:
    param = ncnn_bundles["yolo"].model_path("fp32", "ncnn")
    for suffix in (".param", ".json"):
        shutil.copyfile(param.with_suffix(suffix), tmp_path / f"model.ncnn{suffix}")
    weights = param.with_suffix(".bin").read_bytes()
    (tmp_path / "model.ncnn.bin").write_bytes(weights[: len(weights) // 2])
    backend = create_backend(NcnnConfig())
    with pytest.raises(BackendError, match="could not load model.ncnn.bin: truncated"):
        backend.load(tmp_path / "model.ncnn.param")
    (tmp_path / "model.ncnn.bin").write_bytes(weights)
    (tmp_path / "model.ncnn.json").write_text('{"inputs": [{"name": "images"}], "outputs": []}')
    with pytest.raises(BackendError, match="model.ncnn.json: not an edgeloop ncnn input/output map"):
        backend.load(tmp_path / "model.ncnn.param")


def test_load_errors_say_what_to_do(yolo_bundle: Bundle, tmp_path: Path) -> None:
    need_ncnn()
    backend = create_backend(NcnnConfig())
    with pytest.raises(BackendError, match=r"not model.onnx.*optimize BUNDLE --out NEW --ncnn"):
        backend.load(yolo_bundle.model_path())
    (tmp_path / "m.param").write_text("7767517\n")
    with pytest.raises(BackendError, match="not found.*m.bin"):
        backend.load(tmp_path / "m.param")
    (tmp_path / "m.bin").write_bytes(b"")
    (tmp_path / "m.param").write_text("garbage\n")
    with pytest.raises(BackendError, match="could not load m.param"):
        backend.load(tmp_path / "m.param")


def test_unconvertible_operators_are_named(yolo_bundle: Bundle, tmp_path: Path) -> None:
    from edgeloop.export.ncnn import convert_onnx_to_ncnn

    need_ncnn(convert=True)
    with pytest.raises(BackendError, match=r"ncnn has no layer for operators of model.onnx: .*torch\.gt"):
        convert_onnx_to_ncnn(yolo_bundle.model_path(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _conv_then(op: str, path: Path, opset: int = 17) -> Path:
    """A conv, then ``op`` over axis 2 with its axes as an input tensor: (1, 3, 32, 32) -> (1, 8, 32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node(op, ["c", "axes"], ["y"], keepdims=0),
    ]
    init = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([2], np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 32])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_reduce_over_one_axis_given_as_input_reduces(tmp_path: Path) -> None:
    """pnnx drops a lone axis given as an input (ReduceSum at opset 13+): ncnn would then sum
    over nothing and give a (8, 32, 32) output. The conversion lists the axis twice."""
    from edgeloop.export.ncnn import convert_onnx_to_ncnn

    need_ncnn(convert=True)
    model = _conv_then("ReduceSum", tmp_path / "sum.onnx")
    param, _ = convert_onnx_to_ncnn(model, tmp_path / "out")
    ncnn, ort = create_backend(NcnnConfig()), create_backend(OnnxRuntimeConfig())
    ncnn.load(param)
    ort.load(model)
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    (got,), (want,) = ncnn.infer({"x": x}), ort.infer({"x": x})
    assert got.shape == want.shape == (1, 8, 32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    ncnn.close()
    ort.close()


def test_an_onnx_operator_pnnx_leaves_is_named(tmp_path: Path) -> None:
    from edgeloop.export.ncnn import convert_onnx_to_ncnn

    need_ncnn(convert=True)
    model = _conv_then("ReduceMax", tmp_path / "max.onnx", opset=18)  # axes as an input: new at opset 18
    with pytest.raises(BackendError, match="ncnn has no layer for operators of max.onnx: ReduceMax "):
        convert_onnx_to_ncnn(model, tmp_path / "out")


def test_not_an_onnx_file(tmp_path: Path) -> None:
    from edgeloop.export.ncnn import convert_onnx_to_ncnn

    need_ncnn(convert=True)
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(BackendError, match="bad.onnx is not a readable ONNX model"):
        convert_onnx_to_ncnn(tmp_path / "bad.onnx", tmp_path / "out")


def test_pnnx_failure_shows_the_end_of_its_log(yolo_bundle: Bundle, tmp_path: Path) -> None:
    from edgeloop.export.ncnn import convert_onnx_to_ncnn

    need_ncnn(convert=True)
    with pytest.raises(BackendError, match=r"(?s)pnnx could not convert model.onnx.*expect \[1,3,640,640\]"):
        convert_onnx_to_ncnn(yolo_bundle.model_path(), tmp_path, (1, 3, 320, 320))


def test_settings() -> None:
    assert backend_config("ncnn", None, 2) == NcnnConfig(threads=2)
    with pytest.raises(ConfigError, match="--device: backend 'ncnn' has no device"):
        backend_config("ncnn", "gpu")
    assert NcnnConfig().fp16 is False  # FP32 unless asked: results match ONNX Runtime's
    assert sharing_process(NcnnConfig()).openmp_blocktime == 0  # type: ignore[union-attr]
    assert sharing_process(NcnnConfig(openmp_blocktime=5)).openmp_blocktime == 5  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="openmp_blocktime"):
        NcnnConfig().replace({"openmp_blocktime": -1})


def test_fp16_and_spin_settings_reach_ncnn(ncnn_bundles: dict[str, Bundle]) -> None:
    """fp16 on request (on a CPU without fp16 arithmetic ncnn computes in FP32 anyway)."""
    param = ncnn_bundles["yolo"].model_path("fp32", "ncnn")
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    fp32 = create_backend(NcnnConfig())
    fp16 = create_backend(NcnnConfig(fp16=True, openmp_blocktime=0))
    fp32.load(param)
    fp16.load(param)
    opt = fp16._net.opt  # type: ignore[attr-defined]
    assert opt.use_fp16_storage and opt.use_fp16_arithmetic and opt.openmp_blocktime == 0
    assert not fp32._net.opt.use_fp16_storage  # type: ignore[attr-defined]
    (a,), (b,) = fp32.infer({"images": x}), fp16.infer({"images": x})
    np.testing.assert_allclose(a, b, rtol=0.02, atol=0.5)  # pixels and scores, to fp16 precision
    fp32.close()
    fp16.close()


def test_missing_pnnx_says_how_to_install() -> None:
    from tests.blocked import run_without

    code = (
        "import os; os.environ['PATH'] = ''\n"
        "from edgeloop.export.ncnn import pnnx_command\n"
        "from edgeloop.errors import BackendError\n"
        "try:\n    pnnx_command()\nexcept BackendError as exc:\n    print(exc)\n"
    )
    result = run_without(("pnnx",), code)
    assert "pip install 'edgeloop[ncnn-convert]'" in result.stdout, result.stderr
