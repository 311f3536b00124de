"""edgeloop optimize: new variants measured against FP32, and the accuracy gate on the default."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edgeloop.bundle import Bundle, load_bundle, pack, sha256_file
from edgeloop.errors import BundleError, ConfigError
from edgeloop.optimize import OptimizeOptions, optimize
from tests.conftest import run_cli


def _fingerprint(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_bad_calibration_is_refused_as_default(
    colour_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    """All-black calibration images give activation ranges that clip every colour: INT8 finds nothing."""
    before = _fingerprint(colour_bundle.root)
    result = run_cli(
        "optimize", str(colour_bundle.root), "--int8", "--calib", str(colour_data["black"]),
        "--eval", str(colour_data["eval"]), "--out", str(tmp_path / "bad"), "--runs", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: int8 variant model.int8.onnx loses 100.0 points of mAP50-95" in result.stderr
    assert "not made the default" in result.stderr
    manifest = load_bundle(tmp_path / "bad").manifest
    assert manifest.default_variant == "model.onnx"
    int8 = manifest.variant("int8")  # kept in the bundle, with its measurements
    assert int8.metrics["map50_95"] < 0.1 and int8.metrics["map50_95_drop"] > 90
    assert manifest.variant("fp32").metrics["map50_95"] == pytest.approx(1.0)
    assert _fingerprint(colour_bundle.root) == before, "the source bundle must never change"


def test_good_calibration_becomes_default(
    colour_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    result = run_cli(
        "optimize", str(colour_bundle.root), "--int8", "--calib", str(colour_data["calib"]),
        "--eval", str(colour_data["eval"]), "--out", str(tmp_path / "good"), "--runs", "3", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mAP50-95 against fp32" not in result.stderr  # (a speed note may appear on this tiny model)
    report = json.loads(result.stdout)
    assert report["default_variant"] == "model.int8.onnx"
    int8 = next(v for v in report["variants"] if v["file"] == "model.int8.onnx")
    assert int8["accepted"] is True and int8["metrics"]["map50_95"] == pytest.approx(1.0)
    bundle = load_bundle(tmp_path / "good")
    variant = bundle.manifest.variant()
    assert variant.file == "model.int8.onnx" and variant.precision == "int8"
    assert variant.sha256 == sha256_file(bundle.path(variant.file))
    assert {"map50", "map50_95", "latency_ms", "speedup_vs_fp32"} <= variant.metrics.keys()
    assert bundle.manifest.metrics["map50_95"] == pytest.approx(1.0)
    ops = {node.op_type for node in onnx.load(str(bundle.path(variant.file))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_fp16_and_openvino_variants(
    colour_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    options = OptimizeOptions(
        fp16=True, openvino=True, eval=colour_data["eval"], latency_runs=3, progress=False
    )
    report = optimize(colour_bundle.root, tmp_path / "out", options)
    assert [(v.file, v.precision, v.backend) for v in report.variants] == [
        ("model.onnx", "fp32", "onnxruntime"),
        ("model.fp16.onnx", "fp16", "onnxruntime"),
        ("openvino/model.xml", "fp32", "openvino"),
    ]
    assert report.default_variant == "model.onnx"  # FP16 is for GPUs; never the CPU default
    assert all(v.metrics["map50_95"] == pytest.approx(1.0) for v in report.variants)
    fp16 = onnx.load(str(tmp_path / "out" / "model.fp16.onnx"))
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # IO stays float32
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    ir = load_bundle(tmp_path / "out").manifest.variant(backend="openvino")
    assert ir.extra_files == {"openvino/model.bin": sha256_file(tmp_path / "out" / "openvino" / "model.bin")}
    archive = pack(tmp_path / "out", tmp_path / "out.tar")  # the .bin travels with the bundle
    import tarfile

    with tarfile.open(archive) as tar:
        assert "openvino/model.bin" in tar.getnames()


def test_tampered_openvino_weights_are_detected(colour_bundle: Bundle, tmp_path: Path) -> None:
    optimize(colour_bundle.root, tmp_path / "out", OptimizeOptions(openvino=True, latency_runs=3))
    weights = tmp_path / "out" / "openvino" / "model.bin"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(BundleError, match=r"model.bin: sha256 mismatch"):
        load_bundle(tmp_path / "out")


def test_without_eval_the_default_stays_and_says_why(
    colour_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path
) -> None:
    options = OptimizeOptions(int8=True, calib=colour_data["calib"], latency_runs=3, progress=False)
    report = optimize(colour_bundle.root, tmp_path / "out", options)
    assert report.default_variant == "model.onnx"
    assert any("no --eval dataset" in w for w in report.warnings)


def test_clear_errors(colour_bundle: Bundle, colour_data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to make"):
        optimize(colour_bundle.root, tmp_path / "a", OptimizeOptions())
    with pytest.raises(ConfigError, match="--calib"):
        optimize(colour_bundle.root, tmp_path / "b", OptimizeOptions(int8=True))
    assert not (tmp_path / "b").exists(), "a failed run leaves no half-written bundle"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(BundleError, match="not empty"):
        optimize(colour_bundle.root, tmp_path / "c", OptimizeOptions(fp16=True))
    result = run_cli("optimize", str(colour_bundle.root), "--int8", "--calib", str(colour_data["calib"]),
                     "--method", "median", "--out", str(tmp_path / "d"))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: --method") and "Traceback" not in result.stderr
