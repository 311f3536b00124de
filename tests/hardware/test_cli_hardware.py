"""The profile, bench and advise commands, run as a user would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeloop.bundle import Bundle
from edgeloop.hardware.bench import report_schema
from tests.blocked import run_without
from tests.conftest import run_cli

FIELDS = {"device", "runtime", "precision", "imgsz", "latency_ms", "fps"}


def test_profile_json_and_table(yolo_bundle: Bundle) -> None:
    result = run_cli("profile", str(yolo_bundle.root), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input_shape"] == [1, 3, 640, 640] and data["macs"] > 0
    table = run_cli("profile", str(yolo_bundle.root), "--layers", "3")
    assert table.returncode == 0 and "GFLOPs" in table.stdout and "top 3 layers" in table.stdout


def test_advise_all_json_lists_every_estimate(yolo_bundle: Bundle) -> None:
    """The bundle's input is fixed at 640: advise offers 640 only, and says it left 320 out."""
    result = run_cli("advise", str(yolo_bundle.root), "--all", "--json", "--imgsz", "640,320")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(row.keys() >= FIELDS | {"deployable"} for row in rows)
    keys = {(r["device"], r["runtime"], r["precision"], r["imgsz"]) for r in rows}
    assert len(keys) == len(rows)
    assert {"raspberry-pi-5", "jetson-orin-nano-super"} <= {r["device"] for r in rows}
    assert {r["imgsz"] for r in rows} == {640}
    assert "left out 320" in result.stderr and "fixed at 640x640" in result.stderr
    deployable = {r["runtime"]: r["deployable"] for r in rows}
    assert (
        deployable["onnxruntime"] and deployable["tensorrt"] and deployable["openvino"] and deployable["ncnn"]
    )
    assert not deployable["hailort"]
    only_other = run_cli("advise", str(yolo_bundle.root), "--all", "--imgsz", "320")
    assert only_other.returncode == 1 and "runs at 640 only" in only_other.stderr


def test_advise_dynamic_model_offers_the_sizes_asked(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16, "h", "w"])],
        [numpy_helper.from_array(np.ones((16, 3, 3, 3), np.float32), "w")],
    )
    path = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = run_cli("advise", str(path), "--all", "--json", "--imgsz", "320,256")
    assert result.returncode == 0, result.stderr
    assert {json.loads(line)["imgsz"] for line in result.stdout.splitlines()} == {320, 256}


def test_advise_table_marks_undeployable_runtimes(yolo_bundle: Bundle) -> None:
    result = run_cli("advise", str(yolo_bundle.root), "--fps", "1", "--top", "100")
    assert result.returncode == 0, result.stderr
    assert "deploy" in result.stdout and " hailort " not in result.stdout  # only deployable options meet
    assert re.search(r"onnxruntime\s+│\s+yes\s+│", result.stdout)
    included = run_cli(
        "advise", str(yolo_bundle.root), "--fps", "1", "--top", "100", "--include-undeployable"
    )
    assert included.returncode == 0 and re.search(r"hailort\s+│\s+no\s+│", included.stdout)


def test_advise_table_and_chart(yolo_bundle: Bundle, tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    result = run_cli(
        "advise",
        str(yolo_bundle.root),
        "--fps",
        "15",
        "--streams",
        "2",
        "--budget-usd",
        "300",
        "--chart",
        str(chart),
    )
    assert result.returncode == 0, result.stderr
    assert "options meet 15 FPS x 2 stream(s)" in result.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_advise_needs_fps(yolo_bundle: Bundle) -> None:
    result = run_cli("advise", str(yolo_bundle.root))
    assert result.returncode == 1 and "--fps" in result.stderr


def test_bench_json_validates(yolo_bundle: Bundle) -> None:
    result = run_cli("bench", str(yolo_bundle.root), "--json", "--runs", "3", "--warmup", "1")
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), report_schema())
    table = run_cli("bench", str(yolo_bundle.root), "--runs", "2", "--warmup", "0")
    assert table.returncode == 0 and "infer" in table.stdout


def test_bench_wrong_size_says_how_to_fix(yolo_bundle: Bundle) -> None:
    result = run_cli("bench", str(yolo_bundle.root), "--imgsz", "320")
    assert result.returncode == 1 and "export the model at 320" in result.stderr


def test_bench_without_onnx_or_torch_and_profile_says_what_to_install(yolo_bundle: Bundle) -> None:
    """bench is on the device path (no onnx, no torch); profile names the extra it needs."""
    code = f"""
from edgeloop.backends import OnnxRuntimeConfig
from edgeloop.hardware.bench import bench_bundle
from edgeloop.bundle import load_bundle
report = bench_bundle(load_bundle({str(yolo_bundle.root)!r}), [OnnxRuntimeConfig()], warmup=0, runs=1)
assert "torch" not in sys.modules and "onnx" not in sys.modules
from edgeloop.hardware.profile import ProfileError, profile_onnx
try:
    profile_onnx({str(yolo_bundle.model_path())!r})
except ProfileError as exc:
    print(exc)
"""
    result = run_without(("torch", "onnx"), code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'edgeloop[profile]'" in result.stdout


def test_bench_record_feeds_advise(yolo_bundle: Bundle, tmp_path: Path) -> None:
    record = tmp_path / "here.json"
    args = ("bench", str(yolo_bundle.root), "--runs", "2", "--warmup", "0", "--record", str(record))
    assert "--as-device" in run_cli(*args).stderr
    result = run_cli(*args, "--as-device", "raspberry-pi-5")
    assert result.returncode == 0, result.stderr
    rows = json.loads(record.read_text())["measurements"]
    assert rows[0]["device"] == "raspberry-pi-5" and rows[0]["latency_ms"] > 0 and rows[0]["gflops"] > 0
    advised = run_cli("advise", str(yolo_bundle.root), "--all", "--json", "--measurements", str(record))
    assert advised.returncode == 0, advised.stderr
    bad = run_cli(*args, "--as-device", "raspberry-pi-9")
    assert bad.returncode == 1 and "raspberry-pi-5" in bad.stderr


def test_advise_with_no_option_shows_the_fastest_and_why(yolo_bundle: Bundle) -> None:
    result = run_cli("advise", str(yolo_bundle.root), "--fps", "100000", "--top", "2")
    assert result.returncode == 0, result.stderr
    assert "no option meets every limit" in result.stderr
    assert "needed" in result.stdout  # the reasons column: "... FPS < 100000 needed"
