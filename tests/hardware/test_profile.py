"""The ONNX profiler against hand-counted graphs and a second counter (onnx-tool)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeloop.hardware.profile import ProfileError, profile_onnx
from edgeloop.testing.onnx_models import random_yolo
from edgeloop.testing.second_counter import onnx_tool_macs
from tests.conftest import run_cli


def _model(path: Path, nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], x: list, y: list) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_conv_gemm_counts_and_memory(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"]),
    ]
    inits = {"w": np.ones((8, 3, 3, 3)), "b": np.zeros(8), "g": np.ones((8 * 16 * 16, 10))}
    p = profile_onnx(_model(tmp_path / "m.onnx", nodes, inits, [1, 3, 16, 16], [1, 10]))
    conv_macs = 8 * 16 * 16 * 3 * 3 * 3
    gemm_macs = 10 * 8 * 16 * 16
    assert p.macs == conv_macs + gemm_macs
    assert p.flops == 2 * p.macs
    assert p.params == 8 * 27 + 8 + 2048 * 10
    assert p.weight_bytes == 4 * p.params
    assert p.other_ops == 8 * 16 * 16 + 8 * 16 * 16  # Relu, Flatten output elements
    # Peak: the Conv output alive while Relu writes its own (plus the input, still live until Conv).
    assert p.peak_activation_bytes == 4 * (8 * 256 * 2)
    assert [layer.macs for layer in p.layers] == [conv_macs, 0, 0, gemm_macs]
    assert {c.op for c in p.operators} == {"Conv", "Relu", "Flatten", "Gemm"}


def test_grouped_conv_and_matmul(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
        helper.make_node("Reshape", ["c", "s"], ["m"]),
        helper.make_node("MatMul", ["m", "k"], ["y"]),
    ]
    inits = {"w": np.ones((4, 1, 3, 3)), "k": np.ones((64, 5))}
    path = _model(tmp_path / "g.onnx", nodes, inits, [1, 4, 8, 8], [1, 4, 5])
    model = onnx.load(str(path))
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 4, 64], np.int64), "s"))
    onnx.save(model, str(path))
    p = profile_onnx(path)
    assert p.layers[0].macs == 4 * 8 * 8 * 9  # depthwise: 1 input channel per output
    assert p.layers[2].macs == 4 * 5 * 64


def test_dynamic_input_needs_a_size(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1])]
    path = _model(
        tmp_path / "d.onnx", nodes, {"w": np.ones((2, 3, 1, 1))}, [1, 3, "h", "w"], [1, 2, "h", "w"]
    )
    with pytest.raises(ProfileError, match="--imgsz"):
        profile_onnx(path)
    assert profile_onnx(path, imgsz=64).macs == 2 * 3 * 64 * 64


def test_not_onnx_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ProfileError, match="not a readable ONNX model"):
        profile_onnx(bad)


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_yolo(tmp_path_factory.mktemp("nano") / "nano.onnx")


def test_flops_scale_with_pixels(nano: Path, tmp_path: Path) -> None:
    big = profile_onnx(nano)
    small = profile_onnx(random_yolo(tmp_path / "small.onnx", imgsz=320))
    assert small.macs == pytest.approx(big.macs / 4, rel=0.01)
    assert small.params == big.params


def test_operator_flags(nano: Path) -> None:
    p = profile_onnx(nano)
    flags = {c.op: c.supported for c in p.operators}
    assert flags["Conv"]["edgetpu"] and flags["Conv"]["hailort"]
    assert not flags["ReduceSum"]["edgetpu"]  # not in the Edge TPU list: flagged
    assert all(flags[op]["onnxruntime"] for op in flags)
    assert "ReduceSum" in p.unsupported()["edgetpu"]


def test_matches_a_second_counter(nano: Path) -> None:
    """Conv MACs of our nano model within 5 % of onnx-tool's (which adds bias adds)."""
    pytest.importorskip("onnx_tool")
    ours = profile_onnx(nano)
    theirs = onnx_tool_macs(nano, ours.input_shape)
    assert ours.macs == pytest.approx(theirs, rel=0.05)
    assert ours.macs == pytest.approx(theirs, rel=0.01)  # in fact within 1 %


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `edgeloop export` writes (dynamic batch axis, torch's chunk as Shape/Div/Slice), untrained."""
    torch = pytest.importorskip("torch")
    from edgeloop.export.onnx import _onnx_export
    from edgeloop.train.model import Detector, DetectorExport

    torch.manual_seed(0)
    detector = Detector(num_classes=3, preset="nano").eval()
    path = tmp_path_factory.mktemp("exported") / "model.onnx"
    _onnx_export(DetectorExport(detector, (160, 160)).eval(), 160, path)
    return path


def test_exported_model_counts_every_layer(exported: Path) -> None:
    """Shape inference used to stop at the first Slice behind the batch axis: 46 of 50 Convs unshaped."""
    p = profile_onnx(exported)
    convs = [layer for layer in p.layers if layer.op == "Conv"]
    assert len(convs) == 50
    assert all(layer.output_shape and layer.macs > 0 for layer in convs)
    assert p.unshaped_layers == [] and p.shape_warning() is None
    assert p.input_shape == [1, 3, 160, 160]


def test_exported_model_matches_a_second_counter(exported: Path) -> None:
    pytest.importorskip("onnx_tool")
    ours = profile_onnx(exported)
    theirs = onnx_tool_macs(exported, ours.input_shape)
    assert ours.macs == pytest.approx(theirs, rel=0.05)


def test_unshaped_layers_are_reported(tmp_path: Path) -> None:
    """An operator shape inference cannot follow leaves the Conv behind it uncounted: say so."""
    nodes = [
        helper.make_node("Mystery", ["x"], ["m"], domain="vendor.custom"),
        helper.make_node("Conv", ["m", "w"], ["y"], kernel_shape=[1, 1]),
    ]
    path = _model(tmp_path / "u.onnx", nodes, {"w": np.ones((2, 3, 1, 1))}, [1, 3, 8, 8], [1, 2, "h", "w"])
    model = onnx.load(str(path))
    model.opset_import.append(helper.make_opsetid("vendor.custom", 1))
    onnx.save(model, str(path))
    p = profile_onnx(path)
    assert p.unshaped_layers == ["Mystery_0", "Conv_1"] and p.macs == 0
    warning = p.shape_warning()
    assert warning is not None and "(1 of them Conv/MatMul/Gemm" in warning


def test_cli_profile_of_an_exported_model_and_its_warning(exported: Path, tmp_path: Path) -> None:
    result = run_cli("profile", str(exported), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["unshaped_layers"] == [] and "warning" not in result.stderr
    assert data["flops"] / 1e9 == pytest.approx(profile_onnx(exported).gflops)
    test_unshaped_layers_are_reported(tmp_path)
    warned = run_cli("profile", str(tmp_path / "u.onnx"), "--layers", "0")
    assert warned.returncode == 0, warned.stderr
    assert "warning: 2 of 2 layers got no static shape" in warned.stderr
    advised = run_cli("advise", str(tmp_path / "u.onnx"), "--all", "--json")
    assert "no static shape" in advised.stderr and "predictions below are too optimistic" in advised.stderr


def test_shape_arithmetic_is_folded_but_never_into_huge_tensors(tmp_path: Path) -> None:
    """A Slice whose end is computed from Shape (what torch's chunk exports) gets its shape; a
    ConstantOfShape asking for 10^12 elements is left to inference, not evaluated."""
    init = {
        "one": np.array([1], np.int64),
        "two": np.array([2], np.int64),
        "zero": np.array([0], np.int64),
        "huge": np.array([10**6, 10**6], np.int64),
    }
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "one"], ["c"]),
        helper.make_node("Div", ["c", "two"], ["half"]),
        helper.make_node("Slice", ["x", "zero", "half", "one"], ["first"]),
        helper.make_node("Conv", ["first", "w"], ["y"], kernel_shape=[1, 1]),
        helper.make_node("ConstantOfShape", ["huge"], ["big"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 8, 8])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("big", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")]
        + [numpy_helper.from_array(v, k) for k, v in init.items()],
    )
    path = tmp_path / "chunk.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    p = profile_onnx(path)
    assert p.macs == 3 * 8 * 8 * 2
    assert next(layer for layer in p.layers if layer.op == "Slice").output_shape == [1, 2, 8, 8]
