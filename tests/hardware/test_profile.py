"""The ONNX profiler against hand-counted graphs and a second counter (onnx-tool)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeloop.hardware.profile import ProfileError, profile_onnx
from edgeloop.testing.onnx_models import random_yolo


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
    onnx_tool = pytest.importorskip("onnx_tool")
    model = onnx_tool.Model(str(nano))
    model.graph.graph_reorder_nodes()
    model.graph.shape_infer()
    model.graph.profile()
    theirs = 0.0
    for node in model.graph.nodemap.values():
        if node.op_type in ("Conv", "MatMul", "Gemm"):
            theirs += node.macs[0] if isinstance(node.macs, list) else node.macs
    ours = profile_onnx(nano).macs
    assert ours == pytest.approx(theirs, rel=0.05)
    assert ours == pytest.approx(theirs, rel=0.01)  # in fact within 1 %
